package node

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors/cart"
	"github.com/emporium-shop/emporium/actors/catalog"
	"github.com/emporium-shop/emporium/actors/user"
	"github.com/emporium-shop/emporium/gateway"
	"github.com/emporium-shop/emporium/live"
	cartpb "github.com/emporium-shop/emporium/protos/cartpb"
)

// openLive prepares live updates: the Redis bus and the publisher grains
// push through. The publisher closes after the grains stop (Close runs in
// reverse), so the last changes still go out.
func (n *Node) openLive() {
	n.liveBus = live.New(n.Redis, "emporium:")
	n.liveBus.Tickets = n.tokens
	n.livePub = live.NewPublisher(n.liveBus, live.PublisherOptions{Logger: n.Logger})
	n.onClose("live publisher", func(context.Context) error { return n.livePub.Close() })
}

// cartConfig is the CartGrain's configuration but for the grain settings:
// lines priced from the catalogue read models (cached briefly, shared by
// every cart of the node), and each change pushed to the user's live
// connections.
func (n *Node) cartConfig() (cart.Config, error) {
	items, err := catalog.NewItems(catalog.ItemsConfig{Reads: n.Store.Projections(), Logger: n.Logger})
	if err != nil {
		return cart.Config{}, fmt.Errorf("cart: %w", err)
	}
	return cart.Config{
		Catalog: items,
		Publish: func(userID string, c *cartpb.Cart) {
			n.livePub.Publish(userID, emporium.LiveEvent{Type: cart.EventType, ID: userID, Seq: c.Seq, Data: cart.FromProto(c)})
		},
	}, nil
}

// shoppingServices builds the cart and wishlist services.
func (n *Node) shoppingServices() error {
	carts, err := cart.NewService(cart.ServiceConfig{Cluster: n.Cluster})
	if err != nil {
		return fmt.Errorf("cart: %w", err)
	}
	n.Carts = carts
	n.Wishlists, err = user.NewWishlistService(user.WishlistConfig{
		Cluster: n.Cluster, Products: n.Catalog, Carts: carts, Logger: n.Logger,
	})
	if err != nil {
		return fmt.Errorf("wishlists: %w", err)
	}
	return nil
}

// liveConfig is the gateway's side of live updates: a hub subscribed to the
// users connected to this node, which sends each new connection the user's
// cart first. serveHTTP closes the hub before the HTTP server drains, since
// the server does not track hijacked websocket connections.
func (n *Node) liveConfig(hub *live.Hub) gateway.LiveConfig {
	return gateway.LiveConfig{
		Bus: n.liveBus,
		Hub: hub,
		OnConnect: func(ctx context.Context, p emporium.Principal) []emporium.LiveEvent {
			c, err := n.Carts.Cart(ctx, p)
			if err != nil {
				n.Logger.Warn("live: the cart for a new connection", "error", err)
				return nil
			}
			events := []emporium.LiveEvent{{Type: cart.EventType, ID: p.UserID, Seq: c.Seq, Data: c}}
			return append(events, n.openOrders(ctx, p)...)
		},
	}
}

// allowedOrigins parses ALLOWED_ORIGINS; empty allows PUBLIC_URL's origin.
func (c *Config) allowedOrigins() ([]string, error) {
	raw := c.AllowedOrigins
	if strings.TrimSpace(raw) == "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil {
			return nil, fmt.Errorf("PUBLIC_URL=%q is not a URL", c.PublicURL)
		}
		raw = u.Scheme + "://" + u.Host
	}
	var out []string
	for _, part := range strings.Split(raw, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		o, err := gateway.ParseOrigin(part)
		if err != nil {
			return nil, fmt.Errorf("ALLOWED_ORIGINS has %q, which is not an origin such as https://shop.example", part)
		}
		out = append(out, o)
	}
	return out, nil
}
