package gateway

import (
	"net/http"
	"net/url"

	"github.com/emporium-shop/emporium"
)

// This file serves emporium.Alerts over HTTP: back-in-stock alerts. Every
// route acts on the caller's own alerts; the caller is the token's user,
// never a path or body field, so no request reaches another user's alert.

// mountAlerts registers the alert routes.
func (s *Server) mountAlerts() {
	s.Handle("POST /v1/products/{id}/variants/{sku}/alerts", s.Authenticated(s.subscribeAlert))
	s.Handle("DELETE /v1/products/{id}/variants/{sku}/alerts", s.Authenticated(s.unsubscribeAlert))
	s.Handle("GET /v1/me/alerts", s.Authenticated(s.listMyAlerts))
}

// subscribeAlert answers 201 with the new subscription, or 200 with the
// one the caller had: a repeat is harmless, so the route needs no
// Idempotency-Key. The request has no body.
func (s *Server) subscribeAlert(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	a, created, err := s.alerts.SubscribeAlert(r.Context(), p, r.PathValue("id"), r.PathValue("sku"))
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	w.Header().Set("Location", "/v1/products/"+url.PathEscape(a.ProductID)+"/variants/"+url.PathEscape(a.SKU)+"/alerts")
	return Respond(w, status, a)
}

// unsubscribeAlert answers 204 whether or not the caller was subscribed:
// the state asked for holds either way, and a retried DELETE must not fail.
func (s *Server) unsubscribeAlert(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	if err := s.alerts.UnsubscribeAlert(r.Context(), p, r.PathValue("id"), r.PathValue("sku")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listMyAlerts(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	page, err := pageOf(r.URL.Query())
	if err != nil {
		return err
	}
	list, err := s.alerts.MyAlerts(r.Context(), p, page)
	if err != nil {
		return err
	}
	if list.Items == nil {
		list.Items = []emporium.Alert{}
	}
	return Respond(w, http.StatusOK, list)
}
