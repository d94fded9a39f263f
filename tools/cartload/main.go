// Command cartload prepares add-to-cart load against a running node and
// writes it as vegeta targets, so that the load comes from a process other
// than the node's (see tools/cartload/bench.sh and docs/benchmarks.md).
//
//	cartload -base http://127.0.0.1:8090 -shop shop@example.com -shoppers 64 -password PW > targets.json
//	vegeta attack -format=json -targets=targets.json -rate=1500 -duration=30s | vegeta report
//
// The shop account (admin and vendor) lists products with plenty of stock;
// the shoppers shopper0@example.com ... sign in, and each target adds one
// unit of one SKU to one shopper's cart. Each shopper adds -lines SKUs of
// its own, so every cart holds that many lines, growing evenly; -clear
// empties the carts between runs (a line holds at most 99 units).
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/emporium-shop/emporium/tools/shopclient"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "cartload:", err)
		os.Exit(1)
	}
}

// target is one request in vegeta's JSON target format.
type target struct {
	Method string              `json:"method"`
	URL    string              `json:"url"`
	Body   string              `json:"body"`
	Header map[string][]string `json:"header"`
}

func run() error {
	base := flag.String("base", "http://127.0.0.1:8090", "the node's URL")
	shopEmail := flag.String("shop", "shop@example.com", "email of an account with the admin and vendor roles")
	shoppers := flag.Int("shoppers", 64, "how many shopper accounts (shopper0@example.com, ...) to sign in")
	password := flag.String("password", "", "password of every account (required)")
	products := flag.Int("products", 40, "products to list, two SKUs each")
	perCart := flag.Int("lines", 10, "SKUs each shopper adds (the lines of its cart)")
	clear := flag.Bool("clear", false, "only empty every shopper's cart (between runs), write no targets")
	flag.Parse()
	if *password == "" {
		return fmt.Errorf("-password is required")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	shop := &shopclient.Client{Base: *base}
	if err := shop.WaitReady(ctx); err != nil {
		return err
	}
	tokens := make([]string, *shoppers)
	for i := range tokens {
		c := &shopclient.Client{Base: *base}
		if err := c.Login(ctx, fmt.Sprintf("shopper%d@example.com", i), *password); err != nil {
			return fmt.Errorf("sign in as shopper%d: %w", i, err)
		}
		if *clear {
			if err := c.Do(ctx, "DELETE", "/v1/cart", nil, nil); err != nil {
				return fmt.Errorf("empty the cart of shopper%d: %w", i, err)
			}
		}
		tokens[i] = c.Token
	}
	if *clear {
		return nil
	}
	if err := shop.Login(ctx, *shopEmail, *password); err != nil {
		return fmt.Errorf("sign in as the shop: %w", err)
	}
	skus, err := shop.Stock(ctx, fmt.Sprintf("Load Store %d", time.Now().Unix()), *products, 1_000_000_000)
	if err != nil {
		return fmt.Errorf("list the products: %w", err)
	}
	// Round k adds, for every shopper in turn, the k-th of its own SKUs, so
	// that consecutive requests hit different carts and each cart holds
	// perCart lines that grow evenly.
	enc := json.NewEncoder(os.Stdout)
	for k := range *perCart {
		for i, token := range tokens {
			sku := skus[(i*(*perCart)+k)%len(skus)]
			body := base64.StdEncoding.EncodeToString(fmt.Appendf(nil, `{"sku":%q,"quantity":1}`, sku))
			err := enc.Encode(target{
				Method: "POST",
				URL:    *base + "/v1/cart/items",
				Body:   body,
				Header: map[string][]string{"Authorization": {"Bearer " + token}, "Content-Type": {"application/json"}},
			})
			if err != nil {
				return err
			}
		}
	}
	fmt.Fprintf(os.Stderr, "cartload: %d targets (%d shoppers x %d lines)\n", *perCart*len(tokens), len(tokens), *perCart)
	return nil
}
