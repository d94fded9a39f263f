package user

import (
	"context"
	"crypto/sha256"
	"encoding/hex"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	pb "github.com/emporium-shop/emporium/protos/userpb"
)

// Addresses implements emporium.Accounts.
func (s *Service) Addresses(ctx context.Context, p emporium.Principal) ([]emporium.Address, error) {
	if err := needPrincipal(p); err != nil {
		return nil, err
	}
	acc, err := s.users(p.UserID).Get(&pb.GetRequest{}, actors.Within(ctx, s.cfg.Cluster))
	if err != nil {
		return nil, emporium.GrainCall("user.Service.Addresses", err)
	}
	out := make([]emporium.Address, 0, len(acc.Addresses))
	for _, a := range acc.Addresses {
		out = append(out, toAddress(a))
	}
	return out, nil
}

// Address implements emporium.Accounts.
func (s *Service) Address(ctx context.Context, p emporium.Principal, id string) (emporium.Address, error) {
	if err := needPrincipal(p); err != nil {
		return emporium.Address{}, err
	}
	acc, err := s.users(p.UserID).Get(&pb.GetRequest{}, actors.Within(ctx, s.cfg.Cluster))
	if err != nil {
		return emporium.Address{}, emporium.GrainCall("user.Service.Address", err)
	}
	return findIn(acc, id)
}

func findIn(acc *pb.Account, id string) (emporium.Address, error) {
	for _, a := range acc.Addresses {
		if a.Id == id {
			return toAddress(a), nil
		}
	}
	return emporium.Address{}, addressNotFound(id)
}

// AddAddress implements emporium.Accounts. With an idempotency key the
// address id is derived from (user, key), so a retry reaches the same
// address.
func (s *Service) AddAddress(ctx context.Context, p emporium.Principal, a emporium.Address, idempotencyKey string) (emporium.Address, error) {
	if err := needPrincipal(p); err != nil {
		return emporium.Address{}, err
	}
	id := s.cfg.NewID()
	if idempotencyKey != "" {
		sum := sha256.Sum256([]byte(p.UserID + "\x00" + idempotencyKey))
		id = "a" + hex.EncodeToString(sum[:16])
	}
	acc, err := s.users(p.UserID).AddAddress(&pb.AddAddressRequest{
		CommandId: "address:" + id, AddressId: id, Address: addressFields(a),
	}, actors.Within(ctx, s.cfg.Cluster))
	if err != nil {
		return emporium.Address{}, emporium.GrainCall("user.Service.AddAddress", err)
	}
	return findIn(acc, id)
}

// ReplaceAddress implements emporium.Accounts. A default flag set to true
// moves that default here; false keeps the address's flag as it is (a
// default moves by making another address the default).
func (s *Service) ReplaceAddress(ctx context.Context, p emporium.Principal, id string, a emporium.Address) (emporium.Address, error) {
	if err := needPrincipal(p); err != nil {
		return emporium.Address{}, err
	}
	acc, err := s.users(p.UserID).UpdateAddress(&pb.UpdateAddressRequest{AddressId: id, Address: addressFields(a)}, actors.Within(ctx, s.cfg.Cluster))
	if err != nil {
		return emporium.Address{}, emporium.GrainCall("user.Service.ReplaceAddress", err)
	}
	return findIn(acc, id)
}

// RemoveAddress implements emporium.Accounts.
func (s *Service) RemoveAddress(ctx context.Context, p emporium.Principal, id string) error {
	if err := needPrincipal(p); err != nil {
		return err
	}
	_, err := s.users(p.UserID).RemoveAddress(&pb.RemoveAddressRequest{AddressId: id}, actors.Within(ctx, s.cfg.Cluster))
	return emporium.GrainCall("user.Service.RemoveAddress", err)
}

func addressFields(a emporium.Address) *pb.AddressFields {
	f := &pb.AddressFields{
		FullName: a.FullName, Line1: a.Line1, Line2: a.Line2, City: a.City, Region: a.Region,
		PostalCode: a.PostalCode, Country: a.Country, Phone: a.Phone,
	}
	if a.IsDefaultShipping {
		f.IsDefaultShipping = wrapperspb.Bool(true)
	}
	if a.IsDefaultBilling {
		f.IsDefaultBilling = wrapperspb.Bool(true)
	}
	return f
}

func toAddress(a *pb.Address) emporium.Address {
	return emporium.Address{
		ID: a.Id, FullName: a.FullName, Line1: a.Line1, Line2: a.Line2, City: a.City, Region: a.Region,
		PostalCode: a.PostalCode, Country: a.Country, Phone: a.Phone,
		IsDefaultShipping: a.IsDefaultShipping, IsDefaultBilling: a.IsDefaultBilling,
	}
}
