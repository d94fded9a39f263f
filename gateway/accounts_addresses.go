package gateway

import (
	"net/http"
	"net/url"

	emporium "github.com/emporium-shop/emporium"
)

// The caller's addresses: /v1/me/addresses.

// addressRequest is the body of POST and PUT /v1/me/addresses: an address
// without its id, which is the server's (the outer ID shadows the embedded
// one for encoding/json).
type addressRequest struct {
	addressBody
	ID readOnly `json:"id"`
}

func (b addressRequest) Validate() error {
	return required(field{"full_name", b.FullName}, field{"line1", b.Line1}, field{"city", b.City}, field{"country", b.Country})
}

// addressBody is an address as the API shows it. Its fields are
// emporium.Address's, in the same order, so that the two convert to each
// other; only the json names are the gateway's.
type addressBody struct {
	ID                string `json:"id"`
	FullName          string `json:"full_name"`
	Line1             string `json:"line1"`
	Line2             string `json:"line2"`
	City              string `json:"city"`
	Region            string `json:"region"`
	PostalCode        string `json:"postal_code"`
	Country           string `json:"country"`
	Phone             string `json:"phone"`
	IsDefaultShipping bool   `json:"is_default_shipping"`
	IsDefaultBilling  bool   `json:"is_default_billing"`
}

func (s *Server) listAddresses(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	addresses, err := s.accounts.Addresses(r.Context(), p)
	if err != nil {
		return err
	}
	out := listBody[addressBody]{Items: make([]addressBody, 0, len(addresses))}
	for _, a := range addresses {
		out.Items = append(out.Items, addressOf(a))
	}
	return Respond(w, http.StatusOK, out)
}

// addAddress creates an address and answers 201 with its Location. With an
// Idempotency-Key a retry answers the address the first request created.
func (s *Server) addAddress(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	in, err := decodeAddress(r)
	if err != nil {
		return err
	}
	var a emporium.Address
	err = s.idempotent(r, p, key, in, func() (err error) {
		a, err = s.accounts.AddAddress(r.Context(), p, in, key)
		return err
	})
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/me/addresses/"+url.PathEscape(a.ID))
	return Respond(w, http.StatusCreated, addressOf(a))
}

func (s *Server) getAddress(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	a, err := s.accounts.Address(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	return Respond(w, http.StatusOK, addressOf(a))
}

func (s *Server) replaceAddress(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	in, err := decodeAddress(r)
	if err != nil {
		return err
	}
	a, err := s.accounts.ReplaceAddress(r.Context(), p, r.PathValue("id"), in)
	if err != nil {
		return err
	}
	return Respond(w, http.StatusOK, addressOf(a))
}

func (s *Server) removeAddress(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	if err := s.accounts.RemoveAddress(r.Context(), p, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// decodeAddress reads the body of POST and PUT /v1/me/addresses.
func decodeAddress(r *http.Request) (emporium.Address, error) {
	var in addressRequest
	if err := Decode(r, &in); err != nil {
		return emporium.Address{}, err
	}
	return emporium.Address(in.addressBody), nil
}

func addressOf(a emporium.Address) addressBody { return addressBody(a) }
