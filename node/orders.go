package node

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors/catalog"
	"github.com/emporium-shop/emporium/actors/order"
	"github.com/emporium-shop/emporium/checkout"
	"github.com/emporium-shop/emporium/mail"
	"github.com/emporium-shop/emporium/payments"
	"github.com/emporium-shop/emporium/payments/paypal"
	"github.com/emporium-shop/emporium/payments/sandbox"
	"github.com/emporium-shop/emporium/payments/stripe"
	pb "github.com/emporium-shop/emporium/protos/orderpb"
)

// openPayments builds the payment providers: the sandbox always (its
// ledger in the node's store, shared by every node), Stripe when
// STRIPE_SECRET_KEY is set, PayPal when PAYPAL_CLIENT_ID is.
func (n *Node) openPayments() error {
	box := sandbox.New(n.Store, sandbox.Config{
		ApprovalURL: func(orderID string) string {
			return strings.TrimRight(n.Config.PublicURL, "/") + "/v1/orders/" + orderID + "/payment/confirm"
		},
		WebhookSecret: n.Config.SandboxWebhookSecret,
	})
	n.Sandbox = box
	n.payments = map[string]payments.Provider{sandbox.Name: box}
	n.webhooks = map[string]payments.WebhookVerifier{sandbox.Name: box}
	if n.Config.StripeSecretKey != "" {
		s, err := stripe.New(stripe.Config{
			SecretKey: n.Config.StripeSecretKey, APIURL: n.Config.StripeAPIURL, WebhookSecret: n.Config.StripeWebhookSecret,
		})
		if err != nil {
			return fmt.Errorf("payments: STRIPE_SECRET_KEY: %w", err)
		}
		n.payments[s.Name()] = s
		n.webhooks[s.Name()] = s
	}
	if n.Config.PayPalClientID != "" {
		p, err := paypal.New(paypal.Config{ClientID: n.Config.PayPalClientID, Secret: n.Config.PayPalSecret,
			APIURL: n.Config.PayPalAPIURL, WebhookID: n.Config.PayPalWebhookID})
		if err != nil {
			return fmt.Errorf("payments: PAYPAL_CLIENT_ID: %w", err)
		}
		n.payments[p.Name()] = p
		n.webhooks[p.Name()] = p
	}
	return nil
}

// orderConfig is the OrderGrain's configuration but for the grain
// settings: the providers, the read model, mails, and each change told to
// this node's waiters and pushed to the buyer's live connections.
func (n *Node) orderConfig() order.Config {
	n.orderWaiter = order.NewWaiter()
	n.orderMetrics = order.NewMetrics(n.Registry)
	return order.Config{
		Payments: n.payments,
		Views:    n.Store.Projections(),
		Notify:   n.mailOrder,
		Metrics:  n.orderMetrics,
		Changed: func(o *pb.Order, visible bool) {
			n.orderWaiter.Changed(o)
			if visible {
				n.livePub.Publish(o.State.BuyerId, emporium.LiveEvent{
					Type: emporium.OrderEventType, ID: o.State.Id, Seq: o.Seq, Data: order.FromProto(o)})
			}
		},
		// A vendor's new order is pushed to the vendor's live connections
		// through the same publisher, once their mail's step is recorded.
		VendorOrderCreated: func(vendorID string, o emporium.VendorOrder) {
			n.livePub.Publish(vendorID, emporium.LiveEvent{
				Type: emporium.VendorOrderEventType, ID: o.ID, Seq: o.Seq, Data: o})
		},
	}
}

// orderServices builds the order service and the webhook receiver.
func (n *Node) orderServices() error {
	rates := checkout.Default()
	if path := n.Config.CheckoutRatesFile; path != "" {
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("checkout: CHECKOUT_RATES_FILE: %w", err)
		}
		defer f.Close()
		if rates, err = checkout.Load(f); err != nil {
			return fmt.Errorf("checkout: CHECKOUT_RATES_FILE=%s: %w", path, err)
		}
	}
	items, err := catalog.NewItems(catalog.ItemsConfig{Reads: n.Store.Projections(), Logger: n.Logger})
	if err != nil {
		return fmt.Errorf("orders: %w", err)
	}
	n.Orders = order.NewService(order.ServiceConfig{
		Cluster: n.Cluster, Carts: n.Carts, Addresses: n.Accounts, Catalog: items, Rates: rates,
		Payments: n.payments, Reads: n.Store.Projections(), Waiter: n.orderWaiter,
	})
	n.Webhooks = &order.Webhooks{Cluster: n.Cluster, Verifiers: n.webhooks, Logger: n.Logger}
	return nil
}

// recovery is the loop that wakes orders a node left unsettled.
func (n *Node) recovery() *order.Recovery {
	return &order.Recovery{Cluster: n.Cluster, Due: n.Store.Projections(), Metrics: n.orderMetrics,
		Logger: n.Logger, Interval: n.Config.SweepInterval}
}

// mailOrder sends the buyer the mail of kind about o, or a vendor theirs
// (order.MailVendorOrder).
func (n *Node) mailOrder(ctx context.Context, kind string, o *pb.State) error {
	// A member that joins takes its share of orders at once, before its
	// services are built (Open starts the cluster first): the mail waits
	// for them, as the order's mail step gives up after a few tries.
	if err := n.awaitServices(ctx); err != nil {
		return err
	}
	if vendor, ok := order.VendorOfMail(kind); ok {
		return n.mailVendorOrder(ctx, vendor, o)
	}
	acct, err := n.Accounts.Account(ctx, emporium.Principal{UserID: o.BuyerId})
	if err != nil {
		return fmt.Errorf("the buyer's address: %w", err)
	}
	view := order.FromProto(&pb.Order{State: o})
	d := mail.OrderData{
		Name: acct.Name, OrderID: o.Id,
		Subtotal: money(view.Subtotal), Shipping: money(view.Shipping), Tax: money(view.Tax), Total: money(view.Total),
		EstimatedDelivery: view.EstimatedDelivery,
		Link:              strings.TrimRight(n.Config.PublicURL, "/") + "/v1/orders/" + o.Id,
		Reason:            view.FailureDetail,
	}
	for _, l := range view.Lines {
		d.Lines = append(d.Lines, mail.OrderLineData{Title: l.Title, Options: optionWords(l.Options),
			Quantity: l.Quantity, LineTotal: money(l.LineTotal)})
	}
	d.ShipTo = shipTo(view.ShippingAddress)
	if sh, ok := order.ShipmentOfMail(o, kind); ok {
		return n.mail.Send(ctx, shipmentMail(acct.Email, kind, sh, d, view.Lines))
	}
	msg := mail.OrderConfirmed(acct.Email, d)
	if kind == order.MailCancelled {
		msg = mail.OrderCancelled(acct.Email, d)
	}
	return n.mail.Send(ctx, msg)
}

// shipmentMail is the buyer's mail of a shipment (order.MailShipped) or its
// delivery (order.MailDelivered): of d's lines (one per line of lines),
// the shipment's only, with its carrier and tracking number.
func shipmentMail(to, kind string, sh *pb.Shipment, d mail.OrderData, lines []emporium.OrderLine) mail.Message {
	d.Carrier, d.TrackingNumber = sh.Carrier, sh.TrackingNumber
	all := d.Lines // one per order line, in lines' order
	d.Lines = nil
	for i, l := range lines {
		if slices.Contains(sh.Lines, l.LineID) {
			d.Lines = append(d.Lines, all[i])
		}
	}
	if strings.HasPrefix(kind, order.MailDelivered) {
		return mail.OrderDelivered(to, d)
	}
	return mail.OrderShipped(to, d)
}

// mailVendorOrder tells a vendor of a new order of theirs: their lines and
// where to ship them, nothing of the buyer's payment. An order that does
// not show to the vendor (no line of theirs) sends nothing.
func (n *Node) mailVendorOrder(ctx context.Context, vendorID string, o *pb.State) error {
	vo, ok := order.VendorOrderOf(o, 0, vendorID)
	if !ok {
		return nil
	}
	acct, err := n.Accounts.Account(ctx, emporium.Principal{UserID: vendorID})
	if err != nil {
		return fmt.Errorf("the vendor's address: %w", err)
	}
	d := mail.OrderData{
		Name: acct.Name, OrderID: o.Id, Subtotal: money(vo.Subtotal), ShipTo: shipTo(vo.ShippingAddress),
		Link: strings.TrimRight(n.Config.PublicURL, "/") + "/v1/vendor/orders/" + o.Id,
	}
	for _, l := range vo.Lines {
		d.Lines = append(d.Lines, mail.OrderLineData{Title: l.Title, Options: optionWords(l.Options),
			Quantity: l.Quantity, LineTotal: money(l.LineTotal)})
	}
	return n.mail.Send(ctx, mail.VendorOrder(acct.Email, d))
}

// shipTo writes an address as the lines of a mail.
func shipTo(a emporium.OrderAddress) []string {
	var out []string
	for _, line := range []string{a.FullName, a.Line1, a.Line2, strings.TrimSpace(a.PostalCode + " " + a.City), a.Region, a.Country} {
		if line != "" {
			out = append(out, line)
		}
	}
	return out
}

func money(m emporium.Money) string { return mail.FormatMoney(m.Amount, m.Currency) }

// optionWords writes a variant's options as "colour: red, size: M".
func optionWords(opts map[string]string) string {
	names := make([]string, 0, len(opts))
	for k := range opts {
		names = append(names, k)
	}
	slices.Sort(names)
	parts := make([]string, len(names))
	for i, k := range names {
		parts[i] = k + ": " + opts[k]
	}
	return strings.Join(parts, ", ")
}

// openOrders answers the buyer's orders still moving (not terminal) among
// their latest, for a new live connection to start from.
func (n *Node) openOrders(ctx context.Context, p emporium.Principal) []emporium.LiveEvent {
	page, err := n.Orders.ListOrders(ctx, p, "", 20)
	if err != nil {
		n.Logger.Warn("live: the orders for a new connection", slog.Any("error", err))
		return nil
	}
	var out []emporium.LiveEvent
	for _, o := range page.Items {
		switch o.Status {
		case emporium.OrderFailed, emporium.OrderCancelled, emporium.OrderDelivered, emporium.OrderRefunded:
			continue
		}
		out = append(out, emporium.LiveEvent{Type: emporium.OrderEventType, ID: o.ID, Seq: o.Seq, Data: o})
	}
	return out
}

// orderIndexes declares the order read models' indexes: a buyer's orders
// newest first, orders due for recovery, and a vendor's orders newest
// first (all, by fulfilment status, and one by its id); delivered
// purchases by buyer and product.
func orderIndexes(ctx context.Context, reads interface {
	EnsureIndex(ctx context.Context, collection string, keys ...string) error
}) error {
	if err := reads.EnsureIndex(ctx, order.ViewCollection, "buyer_id", "-_id"); err != nil {
		return err
	}
	if err := reads.EnsureIndex(ctx, order.ViewCollection, "recover_at"); err != nil {
		return err
	}
	// An admin's lists: every order, and the orders of a status.
	if err := reads.EnsureIndex(ctx, order.ViewCollection, order.AllField, "-_id"); err != nil {
		return err
	}
	if err := reads.EnsureIndex(ctx, order.ViewCollection, "status", "-_id"); err != nil {
		return err
	}
	if err := reads.EnsureIndex(ctx, order.VendorCollection, "vendor_id", "-_id"); err != nil {
		return err
	}
	// A vendor's orders by fulfilment status, and one order of a vendor.
	if err := reads.EnsureIndex(ctx, order.VendorCollection, order.VendorFulfillmentField, "-_id"); err != nil {
		return err
	}
	if err := reads.EnsureIndex(ctx, order.VendorCollection, order.VendorOrderField, "-_id"); err != nil {
		return err
	}
	// A buyer's delivered lines of a product: the right to review it.
	return reads.EnsureIndex(ctx, order.PurchaseCollection, order.PurchaseField, "-_id")
}

// awaitServices waits until Open has built the node's services (the
// accounts, the catalogue, the orders), or ctx ends: grain callbacks that
// need them may run as soon as the member joins the cluster.
func (n *Node) awaitServices(ctx context.Context) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !n.servicesReady.Load() {
		select {
		case <-ctx.Done():
			return emporium.Errorf(emporium.EUNAVAILABLE, "the node is starting: %v", ctx.Err())
		case <-tick.C:
		}
	}
	return nil
}
