// Command orderload drives checkout load (POST /v1/orders) against a
// running node from a process of its own, as tools/orderload/bench.sh and
// docs/benchmarks.md ("Checkout") use it. The runs speak only HTTP,
// through tools/shopclient; count reads two copies of the store's SQLite
// file (emporium backup), to count what the orders between them wrote.
//
//	orderload setup  -base URL -password PW -buyers 10000 -state state.json
//	orderload seq    -state state.json -orders 200 -lines 2
//	orderload closed -state state.json -buyers 32 -duration 30s
//	orderload open   -state state.json -rate 150 -duration 30s
//	orderload rush   -state state.json -stock 100 -conns 256
//	orderload count  -before a.db -after b.db -orders 200
//
// setup signs in the shop account (admin and vendor: shop@example.com),
// lists 40 products of two SKUs with plenty of stock and one rush product,
// signs in the buyers buyer0@example.com ... (created beforehand, e.g. by
// tools/orderload/mkbuyers), gives each a shipping address, and writes all
// of it, tokens included, to the state file the other commands read.
// Access tokens live 15 minutes: each run first rotates the refresh
// tokens of the buyers it uses whose access token is older than 8 minutes
// (POST /v1/auth/refresh, cheap next to a sign-in's password hash) and
// writes the new ones back to the state file.
//
// Every order is POST /v1/orders?wait=10 with a fresh Idempotency-Key,
// paid with the sandbox's tok_visa: the answer is the order once its saga
// settled. Its latency is from the request (for the open loop: from the
// moment the schedule sent it) to the answer that shows the outcome; an
// order still pending after the wait is polled with GET /v1/orders/{id}
// until it is not. Cart fills are not part of any latency.
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite"

	"github.com/emporium-shop/emporium/tools/shopclient"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: orderload setup|seq|closed|open|rush|count [flags]")
		os.Exit(2)
	}
	cmds := map[string]func([]string) error{
		"setup": setup, "seq": seq, "closed": closed, "open": open, "rush": rush, "count": count,
	}
	cmd, ok := cmds[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "orderload: unknown command %q\n", os.Args[1])
		os.Exit(2)
	}
	if err := cmd(os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "orderload %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

// State is what setup prepared, for the runs.
type State struct {
	Base        string   `json:"base"`
	Shop        Buyer    `json:"shop"`
	SKUs        []string `json:"skus"`
	RushProduct string   `json:"rush_product"`
	RushSKU     string   `json:"rush_sku"`
	Buyers      []Buyer  `json:"buyers"`
}

// Buyer is one signed-in buyer with a shipping address.
type Buyer struct {
	Email   string    `json:"email"`
	Token   string    `json:"token"`
	Refresh string    `json:"refresh"`
	At      time.Time `json:"at"` // when Token was issued
	Address string    `json:"address"`
}

// tokens is the answer of a sign-in or a refresh.
type tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

// signIn signs in (path /v1/auth/login, body of email and password) or
// rotates a refresh token (/v1/auth/refresh), from client, and keeps the
// tokens in b. Requests to /v1/auth/* are limited per client address, so a
// refusal with 429 waits a second and tries again.
func (s *State) signIn(ctx context.Context, client *http.Client, b *Buyer, path string, body any) error {
	c := &shopclient.Client{Base: s.Base, HTTP: client}
	for {
		var t tokens
		at := time.Now()
		err := c.Do(ctx, http.MethodPost, path, body, &t)
		var se *shopclient.StatusError
		if errors.As(err, &se) && se.Status == http.StatusTooManyRequests {
			select {
			case <-ctx.Done():
				return err
			case <-time.After(time.Second):
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("%s as %s: %w", path, b.Email, err)
		}
		b.Token, b.Refresh, b.At = t.AccessToken, t.RefreshToken, at
		return nil
	}
}

// freshen rotates the tokens of the shop and of buyers[from:to] issued
// more than 8 minutes ago, and saves the state.
func (s *State) freshen(ctx context.Context, path string, from, to int) error {
	const maxAge = 8 * time.Minute
	stale := func(b *Buyer) bool { return time.Since(b.At) > maxAge }
	refresh := func(b *Buyer, client *http.Client) error {
		return s.signIn(ctx, client, b, "/v1/auth/refresh", map[string]string{"refresh_token": b.Refresh})
	}
	n := 0
	if stale(&s.Shop) {
		if err := refresh(&s.Shop, httpClient); err != nil {
			return err
		}
		n++
	}
	var count atomic.Int64
	err := parallel(ctx, to-from, 32, func(ctx context.Context, k int) error {
		i := from + k
		if !stale(&s.Buyers[i]) {
			return nil
		}
		count.Add(1)
		return refresh(&s.Buyers[i], loginClient(i/50))
	})
	if err != nil {
		return err
	}
	if n += int(count.Load()); n > 0 {
		fmt.Fprintf(os.Stderr, "orderload: %d access tokens renewed\n", n)
	}
	return s.save(path)
}

func (s *State) save(path string) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// transport is shared by every buyer's client: one keep-alive connection
// per concurrent request, as many as the run uses.
var transport = &http.Transport{
	MaxIdleConns:        4096,
	MaxIdleConnsPerHost: 4096,
	IdleConnTimeout:     90 * time.Second,
}

var httpClient = &http.Client{Transport: transport, Timeout: 60 * time.Second}

func (s *State) client(token string) *shopclient.Client {
	return &shopclient.Client{Base: s.Base, Token: token, HTTP: httpClient}
}

func loadState(path string) (*State, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s State
	return &s, json.Unmarshal(b, &s)
}

// ---- setup

func setup(args []string) error {
	fs := flag.NewFlagSet("setup", flag.ExitOnError)
	base := fs.String("base", "http://127.0.0.1:8091", "the node's URL")
	shopEmail := fs.String("shop", "shop@example.com", "email of an account with the admin and vendor roles")
	password := fs.String("password", "", "password of every account (required)")
	buyers := fs.Int("buyers", 32, "buyers to sign in (buyer0@example.com, ...)")
	prefix := fs.String("prefix", "buyer", "the buyers' email prefix")
	products := fs.Int("products", 40, "products to list, two SKUs each, with plenty of stock")
	workers := fs.Int("workers", 16, "sign-ins at a time")
	statePath := fs.String("state", "state.json", "file to write the state to")
	_ = fs.Parse(args)
	if *password == "" {
		return errors.New("-password is required")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	st := &State{Base: *base, Shop: Buyer{Email: *shopEmail}}
	if err := st.client("").WaitReady(ctx); err != nil {
		return err
	}
	if err := st.signIn(ctx, httpClient, &st.Shop, "/v1/auth/login", map[string]string{"email": *shopEmail, "password": *password}); err != nil {
		return err
	}
	shop := st.client(st.Shop.Token)
	stamp := time.Now().Unix()
	skus, err := shop.Stock(ctx, fmt.Sprintf("Order Load %d", stamp), *products, 1_000_000_000)
	if err != nil {
		return fmt.Errorf("list the products: %w", err)
	}
	st.SKUs = skus
	if st.RushProduct, st.RushSKU, err = rushProduct(ctx, shop, stamp); err != nil {
		return fmt.Errorf("list the rush product: %w", err)
	}
	fmt.Fprintf(os.Stderr, "orderload: %d SKUs and rush SKU %s listed; signing in %d buyers...\n", len(skus), st.RushSKU, *buyers)

	// Sign-ins are limited per client address (300 a minute, 100 at once),
	// so the buyers sign in from addresses of 127.0.0.0/8, 50 per address.
	start := time.Now()
	st.Buyers = make([]Buyer, *buyers)
	err = parallel(ctx, *buyers, *workers, func(ctx context.Context, i int) error {
		b := &st.Buyers[i]
		b.Email = fmt.Sprintf("%s%d@example.com", *prefix, i)
		if err := st.signIn(ctx, loginClient(i/50), b, "/v1/auth/login", map[string]string{"email": b.Email, "password": *password}); err != nil {
			return err
		}
		c := st.client(b.Token)
		var addr struct {
			ID string `json:"id"`
		}
		err := c.Do(ctx, http.MethodPost, "/v1/me/addresses", map[string]any{
			"full_name": fmt.Sprintf("Buyer %d", i), "line1": "1 Market St", "city": "San Francisco", "region": "CA",
			"postal_code": "94105", "country": "US",
		}, &addr)
		b.Address = addr.ID
		if done := i + 1; done%1000 == 0 {
			fmt.Fprintf(os.Stderr, "orderload: ~%d buyers signed in (%s)\n", done, time.Since(start).Round(time.Second))
		}
		return err
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "orderload: %d buyers signed in with an address in %s\n", *buyers, time.Since(start).Round(time.Millisecond))
	return st.save(*statePath)
}

// loginClient sends from 127.1.x.y, address number n.
func loginClient(n int) *http.Client {
	ip := net.IPv4(127, 1, byte(n/250), byte(1+n%250))
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: 10 * time.Second}
	return &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 4}}
}

// rushProduct lists, as the shop, a product with one SKU and no stock yet.
func rushProduct(ctx context.Context, shop *shopclient.Client, stamp int64) (string, string, error) {
	var cat struct {
		ID string `json:"id"`
	}
	if err := shop.Do(ctx, http.MethodPost, "/v1/admin/categories", map[string]string{"name": fmt.Sprintf("Rush goods %d", stamp)}, &cat); err != nil {
		return "", "", err
	}
	sku := fmt.Sprintf("RUSH-%d", stamp)
	var p struct {
		ID string `json:"id"`
	}
	in := map[string]any{
		"title": "Limited drop", "brand": "Load", "category_id": cat.ID, "currency": "USD",
		"options":  []map[string]any{{"name": "size", "values": []string{"one"}}},
		"variants": []map[string]any{{"sku": sku, "options": map[string]string{"size": "one"}, "price": 4200}},
	}
	if err := shop.Do(ctx, http.MethodPost, "/v1/vendor/products", in, &p); err != nil {
		return "", "", err
	}
	if err := shop.Do(ctx, http.MethodPut, "/v1/vendor/products/"+p.ID+"/variants/"+sku+"/stock", map[string]int64{"on_hand": 0}, nil); err != nil {
		return "", "", err
	}
	if err := shop.Do(ctx, http.MethodPatch, "/v1/vendor/products/"+p.ID, map[string]string{"status": "active"}, nil); err != nil {
		return "", "", err
	}
	return p.ID, sku, nil
}

// parallel runs fn for 0..n-1, workers at a time, and returns the first
// error.
func parallel(ctx context.Context, n, workers int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	for range min(workers, max(n, 1)) {
		wg.Go(func() {
			for i := range next {
				if err := fn(ctx, i); err != nil {
					once.Do(func() { first = err; cancel() })
				}
			}
		})
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	return first
}

// ---- orders

// outcome is what one order came to.
type outcome struct {
	status  string // confirmed, failed, pending (never settled), error
	reason  string // failure_reason, or the error
	latency time.Duration
	at      time.Time // when the outcome was known
}

type orderAnswer struct {
	ID            string `json:"id"`
	Status        string `json:"status"`
	FailureReason string `json:"failure_reason"`
}

// newKey returns a fresh Idempotency-Key.
func newKey() string { return rand.Text() }

// place sends one order of b's cart and waits for its outcome: the answer
// of POST /v1/orders?wait=10, then GET /v1/orders/{id} every 100 ms while it
// is pending, until giveUp. A refusal that may pass (429, 503, a lost
// connection) is sent again with the same key. The latency counts from
// since.
func (s *State) place(ctx context.Context, b Buyer, since time.Time, giveUp time.Duration) outcome {
	c := s.client(b.Token)
	key := newKey()
	body := map[string]any{
		"shipping_address_id": b.Address, "shipping_method": "standard",
		"payment": map[string]any{"provider": "sandbox", "token": "tok_visa"},
	}
	deadline := since.Add(giveUp)
	var o orderAnswer
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.Base+"/v1/orders?wait=10", jsonBody(body))
		if err != nil {
			return outcome{status: "error", reason: err.Error()}
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+b.Token)
		req.Header.Set("Idempotency-Key", key)
		status, err := doJSON(req, &o)
		if err == nil && status == http.StatusCreated {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil || (err == nil && status != http.StatusTooManyRequests && status/100 != 5) {
			reason := fmt.Sprint(status)
			if err != nil {
				reason = err.Error()
			}
			return outcome{status: "error", reason: reason, latency: time.Since(since), at: time.Now()}
		}
		time.Sleep(100 * time.Millisecond)
	}
	for o.Status == "pending" && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(100 * time.Millisecond)
		var fresh orderAnswer
		if err := c.Do(ctx, http.MethodGet, "/v1/orders/"+o.ID, nil, &fresh); err == nil {
			o = fresh
		}
	}
	now := time.Now()
	return outcome{status: o.Status, reason: o.FailureReason, latency: now.Sub(since), at: now}
}

func jsonBody(v any) *strings.Reader {
	b, _ := json.Marshal(v)
	return strings.NewReader(string(b))
}

// doJSON sends req and decodes a 2xx answer into out.
func doJSON(req *http.Request, out any) (int, error) {
	res, err := httpClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	if res.StatusCode/100 != 2 {
		var discard json.RawMessage
		_ = json.NewDecoder(res.Body).Decode(&discard)
		return res.StatusCode, nil
	}
	return res.StatusCode, json.NewDecoder(res.Body).Decode(out)
}

// fill puts lines lines of one unit each, of SKUs drawn from skus, into
// b's cart (emptied first when empty is set).
func (s *State) fill(ctx context.Context, b Buyer, rng *mrand.Rand, skus []string, lines int, empty bool) error {
	c := s.client(b.Token)
	if empty {
		if err := c.Do(ctx, http.MethodDelete, "/v1/cart", nil, nil); err != nil {
			return err
		}
	}
	picked := map[string]bool{}
	for len(picked) < lines {
		sku := skus[rng.IntN(len(skus))]
		if picked[sku] {
			continue
		}
		picked[sku] = true
		if err := c.AddToCart(ctx, sku, 1); err != nil {
			return fmt.Errorf("add %s to the cart of %s: %w", sku, b.Email, err)
		}
	}
	return nil
}

// tally collects outcomes.
type tally struct {
	mu        sync.Mutex
	outcomes  []outcome
	fillTimes []time.Duration
}

func (t *tally) add(o outcome) {
	t.mu.Lock()
	t.outcomes = append(t.outcomes, o)
	t.mu.Unlock()
}

func (t *tally) addFill(d time.Duration) {
	t.mu.Lock()
	t.fillTimes = append(t.fillTimes, d)
	t.mu.Unlock()
}

// report prints the outcomes by status and the latency of the confirmed
// ones, and returns how many were confirmed.
func report(label string, outs []outcome) int {
	byStatus := map[string]int{}
	reasons := map[string]int{}
	var lat []time.Duration
	for _, o := range outs {
		byStatus[o.status]++
		if o.reason != "" {
			reasons[o.status+": "+o.reason]++
		}
		if o.status == "confirmed" {
			lat = append(lat, o.latency)
		}
	}
	fmt.Printf("%s: %d orders: %s\n", label, len(outs), counts(byStatus))
	if len(reasons) > 0 {
		fmt.Printf("  reasons: %s\n", counts(reasons))
	}
	if len(lat) > 0 {
		fmt.Printf("  request to confirmed: %s\n", percentiles(lat))
	}
	return byStatus["confirmed"]
}

func counts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

func percentiles(d []time.Duration) string {
	slices.Sort(d)
	p := func(q float64) time.Duration {
		return d[min(len(d)-1, int(q*float64(len(d))))].Round(100 * time.Microsecond)
	}
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	return fmt.Sprintf("p50 %s, p90 %s, p99 %s, max %s, mean %s (n=%d)", p(.50), p(.90), p(.99), d[len(d)-1].Round(100*time.Microsecond),
		(sum / time.Duration(len(d))).Round(100*time.Microsecond), len(d))
}

// ---- seq: orders one after another, to count what one costs

func seq(args []string) error {
	fs := flag.NewFlagSet("seq", flag.ExitOnError)
	statePath := fs.String("state", "state.json", "the state setup wrote")
	orders := fs.Int("orders", 200, "orders to place, one after another")
	lines := fs.Int("lines", 2, "lines per order (one unit each)")
	buyer := fs.Int("buyer", 0, "the buyer who orders")
	_ = fs.Parse(args)
	st, err := loadState(*statePath)
	if err != nil {
		return err
	}
	ctx := context.Background()
	if err := st.freshen(ctx, *statePath, *buyer, *buyer+1); err != nil {
		return err
	}
	rng := mrand.New(mrand.NewPCG(1, 2))
	b := st.Buyers[*buyer]
	var outs []outcome
	start := time.Now()
	for i := range *orders {
		if err := st.fill(ctx, b, rng, st.SKUs, *lines, i == 0); err != nil {
			return err
		}
		o := st.place(ctx, b, time.Now(), 30*time.Second)
		outs = append(outs, o)
		if o.status != "confirmed" {
			fmt.Fprintf(os.Stderr, "orderload: order %d: %s %s\n", i, o.status, o.reason)
		}
	}
	fmt.Printf("sequential, %d lines per order, one buyer, %s in all\n", *lines, time.Since(start).Round(time.Millisecond))
	report("sequential", outs)
	return nil
}

// ---- closed loop

func closed(args []string) error {
	fs := flag.NewFlagSet("closed", flag.ExitOnError)
	statePath := fs.String("state", "state.json", "the state setup wrote")
	buyers := fs.Int("buyers", 32, "concurrent buyers (the first of the state's)")
	duration := fs.Duration("duration", 30*time.Second, "measured time")
	warmup := fs.Duration("warmup", 5*time.Second, "time before the measured time, not counted")
	minLines := fs.Int("min-lines", 1, "fewest lines per order")
	maxLines := fs.Int("max-lines", 3, "most lines per order")
	_ = fs.Parse(args)
	st, err := loadState(*statePath)
	if err != nil {
		return err
	}
	if *buyers > len(st.Buyers) {
		return fmt.Errorf("the state has %d buyers, not %d", len(st.Buyers), *buyers)
	}
	ctx := context.Background()
	if err := st.freshen(ctx, *statePath, 0, *buyers); err != nil {
		return err
	}
	var t tally
	begin := time.Now()
	from, until := begin.Add(*warmup), begin.Add(*warmup+*duration)
	var fillErrs atomic.Int64
	var wg sync.WaitGroup
	for i := range *buyers {
		wg.Go(func() {
			rng := mrand.New(mrand.NewPCG(uint64(i), 7))
			b := st.Buyers[i]
			empty := true
			for time.Now().Before(until) {
				fillStart := time.Now()
				n := *minLines + rng.IntN(*maxLines-*minLines+1)
				if err := st.fill(ctx, b, rng, st.SKUs, n, empty); err != nil {
					if fillErrs.Add(1) <= 3 {
						fmt.Fprintln(os.Stderr, "orderload:", err)
					}
					empty = true
					continue
				}
				sent := time.Now()
				o := st.place(ctx, b, sent, 30*time.Second)
				empty = o.status != "confirmed"
				if !sent.Before(from) && !o.at.After(until) {
					t.add(o)
					t.addFill(sent.Sub(fillStart))
				}
			}
		})
	}
	wg.Wait()
	fmt.Printf("closed loop: %d buyers, each filling 1-3 lines then ordering; %s measured after %s warm-up\n", *buyers, *duration, *warmup)
	confirmed := report("closed loop", t.outcomes)
	fmt.Printf("  => %.1f confirmed orders/s; cart fill before each order: %s; fill errors %d\n",
		float64(confirmed)/duration.Seconds(), percentiles(t.fillTimes), fillErrs.Load())
	return nil
}

// ---- open loop

func open(args []string) error {
	fs := flag.NewFlagSet("open", flag.ExitOnError)
	statePath := fs.String("state", "state.json", "the state setup wrote")
	rate := fs.Float64("rate", 150, "orders per second offered")
	duration := fs.Duration("duration", 30*time.Second, "how long")
	first := fs.Int("from", 32, "the first buyer of the pool (the closed loop uses those before)")
	pool := fs.Int("pool", 0, "buyers in the pool; 0: rate x duration x 1.1 (so none orders twice) or as many as the state has")
	_ = fs.Parse(args)
	st, err := loadState(*statePath)
	if err != nil {
		return err
	}
	total := int(*rate * duration.Seconds())
	if *pool == 0 {
		*pool = total + total/10
	}
	if *first+*pool > len(st.Buyers) {
		// Fewer buyers: each orders again once its order settled and its
		// cart is filled again.
		*pool = len(st.Buyers) - *first
		if *pool <= 0 {
			return fmt.Errorf("the state has %d buyers; the pool starts at %d", len(st.Buyers), *first)
		}
	}
	ctx := context.Background()
	if err := st.freshen(ctx, *statePath, *first, *first+*pool); err != nil {
		return err
	}
	buyers := st.Buyers[*first : *first+*pool]

	// Every buyer's cart is filled before the clock starts. Only when the
	// pool is smaller than the orders to send does a buyer whose order
	// settled get a new fill and go back to the pool (that fill is load on
	// the node during the run, but not part of any latency).
	refill := len(buyers) < total
	fmt.Fprintf(os.Stderr, "orderload: filling %d carts...\n", len(buyers))
	fillStart := time.Now()
	ready := make(chan int, len(buyers))
	err = parallel(ctx, len(buyers), 32, func(ctx context.Context, i int) error {
		rng := mrand.New(mrand.NewPCG(uint64(*first+i), 11))
		if err := st.fill(ctx, buyers[i], rng, st.SKUs, 1+rng.IntN(3), true); err != nil {
			return err
		}
		ready <- i
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "orderload: %d carts filled in %s\n", len(buyers), time.Since(fillStart).Round(time.Millisecond))
	time.Sleep(2 * time.Second)

	var t tally
	var late atomic.Int64 // sends that found no buyer ready at their time
	var lag []time.Duration
	var wg sync.WaitGroup
	interval := time.Duration(float64(time.Second) / *rate)
	start := time.Now()
	for k := range total {
		at := start.Add(time.Duration(k) * interval)
		time.Sleep(time.Until(at))
		var i int
		select {
		case i = <-ready:
		default:
			late.Add(1)
			i = <-ready
		}
		lag = append(lag, time.Since(at))
		wg.Go(func() {
			o := st.place(ctx, buyers[i], at, 30*time.Second)
			t.add(o)
			if !refill {
				return
			}
			rng := mrand.New(mrand.NewPCG(uint64(*first+i), uint64(k)))
			if err := st.fill(ctx, buyers[i], rng, st.SKUs, 1+rng.IntN(3), o.status != "confirmed"); err == nil {
				ready <- i
			}
		})
	}
	sent := time.Since(start)
	wg.Wait()
	fmt.Printf("open loop: %.0f orders/s offered for %s (%d sent in %s, %d found no buyer ready); pool of %d pre-filled buyers, refilled: %v\n",
		*rate, *duration, total, sent.Round(time.Millisecond), late.Load(), len(buyers), refill)
	fmt.Printf("  send lag behind the schedule: %s\n", percentiles(lag))
	confirmed := report("open loop", t.outcomes)
	var last time.Time
	for _, o := range t.outcomes {
		if o.at.After(last) {
			last = o.at
		}
	}
	fmt.Printf("  => %d confirmed, the last outcome %s after the start: %.1f confirmed orders/s\n",
		confirmed, last.Sub(start).Round(time.Millisecond), float64(confirmed)/last.Sub(start).Seconds())
	return nil
}

// ---- rush

func rush(args []string) error {
	fs := flag.NewFlagSet("rush", flag.ExitOnError)
	statePath := fs.String("state", "state.json", "the state setup wrote")
	stock := fs.Int64("stock", 100, "units of the rush SKU")
	conns := fs.Int("conns", 256, "orders in flight at once (connections)")
	buyersN := fs.Int("buyers", 0, "buyers in the rush; 0: all of the state's")
	started := fs.String("started", "", "a file to create when the rush starts (e.g. for a profiler to wait on)")
	_ = fs.Parse(args)
	st, err := loadState(*statePath)
	if err != nil {
		return err
	}
	if *buyersN <= 0 || *buyersN > len(st.Buyers) {
		*buyersN = len(st.Buyers)
	}
	ctx := context.Background()
	if err := st.freshen(ctx, *statePath, 0, *buyersN); err != nil {
		return err
	}
	buyers := st.Buyers[:*buyersN]
	shop := st.client(st.Shop.Token)
	if err := shop.Do(ctx, http.MethodPut, "/v1/vendor/products/"+st.RushProduct+"/variants/"+st.RushSKU+"/stock",
		map[string]int64{"on_hand": *stock}, nil); err != nil {
		return fmt.Errorf("set the rush stock: %w", err)
	}
	// Carts check availability through a cache of the stock read model
	// (catalog.Items: up to 2 x 500 ms behind), so the fills wait until the
	// product shows the stock, and a little more.
	for deadline := time.Now().Add(30 * time.Second); ; {
		if n, err := st.available(ctx, shop); err == nil && n == *stock {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s does not show %d units available after 30 s", st.RushSKU, *stock)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond)
	fmt.Fprintf(os.Stderr, "orderload: %s has %d units; emptying %d carts and putting one unit in each...\n", st.RushSKU, *stock, len(buyers))
	fillStart := time.Now()
	err = parallel(ctx, len(buyers), 32, func(ctx context.Context, i int) error {
		c := st.client(buyers[i].Token)
		if err := c.Do(ctx, http.MethodDelete, "/v1/cart", nil, nil); err != nil {
			return fmt.Errorf("empty the cart of %s: %w", buyers[i].Email, err)
		}
		return c.AddToCart(ctx, st.RushSKU, 1)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "orderload: carts filled in %s\n", time.Since(fillStart).Round(time.Millisecond))
	time.Sleep(2 * time.Second)

	var t tally
	next := make(chan int, len(buyers))
	for i := range buyers {
		next <- i
	}
	close(next)
	if *started != "" {
		if err := os.WriteFile(*started, nil, 0o600); err != nil {
			return err
		}
	}
	start := time.Now()
	var wg sync.WaitGroup
	for range *conns {
		wg.Go(func() {
			for i := range next {
				t.add(st.place(ctx, buyers[i], start, 60*time.Second))
			}
		})
	}
	wg.Wait()
	var last, hundredth time.Duration
	var confirmedAt []time.Duration
	for _, o := range t.outcomes {
		last = max(last, o.latency)
		if o.status == "confirmed" {
			confirmedAt = append(confirmedAt, o.latency)
		}
	}
	slices.Sort(confirmedAt)
	if len(confirmedAt) > 0 {
		hundredth = confirmedAt[len(confirmedAt)-1]
	}
	fmt.Printf("rush: %d buyers for %d units of %s, %d orders in flight at once\n", len(buyers), *stock, st.RushSKU, *conns)
	confirmed := report("rush", t.outcomes)
	var lat []time.Duration
	for _, o := range t.outcomes {
		lat = append(lat, o.latency)
	}
	fmt.Printf("  every outcome (from the start of the rush): %s\n", percentiles(lat))
	fmt.Printf("  => %d confirmed (want %d); the last confirmed at %s; the last outcome at %s after the start\n",
		confirmed, *stock, hundredth.Round(time.Millisecond), last.Round(time.Millisecond))

	// The stock tells the same: none left, none oversold.
	time.Sleep(time.Second)
	if n, err := st.available(ctx, shop); err == nil {
		fmt.Printf("  %s available after the rush: %d\n", st.RushSKU, n)
	}
	return nil
}

// available answers the units of the rush SKU the product page shows.
func (s *State) available(ctx context.Context, c *shopclient.Client) (int64, error) {
	var p struct {
		Variants []struct {
			SKU       string `json:"sku"`
			Available int64  `json:"available"`
		} `json:"variants"`
	}
	if err := c.Do(ctx, http.MethodGet, "/v1/products/"+s.RushProduct, nil, &p); err != nil {
		return 0, err
	}
	for _, v := range p.Variants {
		if v.SKU == s.RushSKU {
			return v.Available, nil
		}
	}
	return 0, fmt.Errorf("product %s has no SKU %s", s.RushProduct, s.RushSKU)
}

// ---- count: the durable writes between two copies of the store

func count(args []string) error {
	fs := flag.NewFlagSet("count", flag.ExitOnError)
	before := fs.String("before", "", "a copy of the store (emporium backup) before the orders")
	after := fs.String("after", "", "a copy after")
	orders := fs.Int("orders", 200, "orders placed between the copies")
	_ = fs.Parse(args)
	a, err := tallyStore(*before)
	if err != nil {
		return err
	}
	b, err := tallyStore(*after)
	if err != nil {
		return err
	}
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	fmt.Printf("store writes between the copies, per order (%d orders):\n", *orders)
	for _, k := range sorted {
		if d := b[k] - a[k]; d != 0 {
			fmt.Printf("  %-60s %9d  %7.2f/order\n", k, d, float64(d)/float64(*orders))
		}
	}
	return nil
}

// tallyStore counts, in a copy of the store: journal events by kind and
// type, appends by kind (the events of one append share their time),
// snapshot rows, and for each document table its rows and the sum of its
// versions or seqs (n).
func tallyStore(path string) (map[string]int64, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	out := map[string]int64{}
	queries := []struct{ label, q string }{
		{"journal events %s %s", `SELECT substr(stream, 1, instr(stream, '-') - 1), type, count(*) FROM journal GROUP BY 1, 2`},
		{"journal appends %s%s", `SELECT substr(stream, 1, instr(stream, '-') - 1), '', count(*) FROM (SELECT DISTINCT stream, at FROM journal) GROUP BY 1`},
		{"snapshot rows %s%s", `SELECT substr(stream, 1, instr(stream, '-') - 1), '', count(*) FROM snapshots GROUP BY 1`},
	}
	for _, q := range queries {
		rows, err := db.Query(q.q)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var kind, typ string
			var n int64
			if err := rows.Scan(&kind, &typ, &n); err != nil {
				rows.Close()
				return nil, err
			}
			out[fmt.Sprintf(q.label, kind, typ)] = n
		}
		rows.Close()
	}
	var tables []string
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'doc:%'`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return nil, err
		}
		tables = append(tables, name)
	}
	rows.Close()
	for _, t := range tables {
		var n, sum int64
		if err := db.QueryRow(`SELECT count(*), coalesce(sum(n), 0) FROM "`+t+`"`).Scan(&n, &sum); err != nil {
			return nil, err
		}
		out["documents "+t+" rows"] = n
		out["documents "+t+" sum(n)"] = sum
	}
	return out, nil
}
