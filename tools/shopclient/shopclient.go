// Package shopclient is a small client of Emporium's HTTP API for the
// tools and tests that drive a node from another process: load generators
// and crash tests. It speaks only HTTP and imports nothing of the server.
package shopclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Client calls one node as one user.
type Client struct {
	// Base is the node's URL, e.g. http://127.0.0.1:8080.
	Base string
	// Token is the access token sent as a Bearer token, when set.
	Token string
	// HTTP sends the requests; nil means a client with a 30 s timeout.
	HTTP *http.Client
}

// StatusError is an answer with a status the call did not expect.
type StatusError struct {
	Method, Path string
	Status       int
	Body         string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.Status, strings.TrimSpace(e.Body))
}

// Do sends a request with body (JSON-encoded unless nil) and decodes a 2xx
// answer into out (unless nil). Any other status is a *StatusError.
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	res, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode/100 != 2 {
		return &StatusError{Method: method, Path: path, Status: res.StatusCode, Body: string(data)}
	}
	if out == nil || len(data) == 0 {
		return nil
	}
	return json.Unmarshal(data, out)
}

// Login signs in and keeps the access token. Sign-ins are rate-limited
// per address, so a refusal with 429 waits a second and tries again, until
// ctx ends.
func (c *Client) Login(ctx context.Context, email, password string) error {
	var out struct {
		AccessToken string `json:"access_token"`
	}
	for {
		err := c.Do(ctx, http.MethodPost, "/v1/auth/login", map[string]string{"email": email, "password": password}, &out)
		var se *StatusError
		if !errors.As(err, &se) || se.Status != http.StatusTooManyRequests {
			if err != nil {
				return err
			}
			c.Token = out.AccessToken
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Second):
		}
	}
}

// WaitReady polls /readyz until the node answers ready or ctx ends.
func (c *Client) WaitReady(ctx context.Context) error {
	for {
		err := c.Do(ctx, http.MethodGet, "/readyz", nil, nil)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the node at %s is not ready: %w (last: %v)", c.Base, ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stock sets up, as an account that is both admin and vendor, one category,
// a store and one active product per SKU prefix with two variants each,
// every variant stocked with onHand units, and returns the SKUs.
func (c *Client) Stock(ctx context.Context, storeName string, products int, onHand int64) ([]string, error) {
	var cat struct {
		ID string `json:"id"`
	}
	if err := c.Do(ctx, http.MethodPost, "/v1/admin/categories", map[string]string{"name": storeName + " goods"}, &cat); err != nil {
		return nil, err
	}
	if err := c.Do(ctx, http.MethodPost, "/v1/vendors", map[string]string{"store_name": storeName, "description": "Load and crash tests."}, nil); err != nil {
		return nil, err
	}
	var skus []string
	for i := range products {
		var variants []map[string]any
		for _, size := range []string{"s", "m"} {
			sku := fmt.Sprintf("LOAD-%03d-%s", i, strings.ToUpper(size))
			variants = append(variants, map[string]any{"sku": sku, "options": map[string]string{"size": size}, "price": 1000 + i})
		}
		var p struct {
			ID string `json:"id"`
		}
		in := map[string]any{
			"title": fmt.Sprintf("Load product %d", i), "brand": "Load", "category_id": cat.ID, "currency": "USD",
			"options": []map[string]any{{"name": "size", "values": []string{"s", "m"}}}, "variants": variants,
		}
		if err := c.Do(ctx, http.MethodPost, "/v1/vendor/products", in, &p); err != nil {
			return nil, err
		}
		for _, v := range variants {
			sku := v["sku"].(string)
			if err := c.Do(ctx, http.MethodPut, "/v1/vendor/products/"+p.ID+"/variants/"+sku+"/stock", map[string]int64{"on_hand": onHand}, nil); err != nil {
				return nil, err
			}
			skus = append(skus, sku)
		}
		if err := c.Do(ctx, http.MethodPatch, "/v1/vendor/products/"+p.ID, map[string]string{"status": "active"}, nil); err != nil {
			return nil, err
		}
	}
	return skus, nil
}

// AddToCart adds quantity units of sku to the caller's cart.
func (c *Client) AddToCart(ctx context.Context, sku string, quantity int64) error {
	return c.Do(ctx, http.MethodPost, "/v1/cart/items", map[string]any{"sku": sku, "quantity": quantity}, nil)
}

// CartQuantities returns the caller's cart as units by SKU.
func (c *Client) CartQuantities(ctx context.Context) (map[string]int64, error) {
	var cart struct {
		Lines []struct {
			SKU      string `json:"sku"`
			Quantity int64  `json:"quantity"`
		} `json:"lines"`
	}
	if err := c.Do(ctx, http.MethodGet, "/v1/cart", nil, &cart); err != nil {
		return nil, err
	}
	out := make(map[string]int64, len(cart.Lines))
	for _, l := range cart.Lines {
		out[l.SKU] += l.Quantity
	}
	return out, nil
}
