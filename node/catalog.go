package node

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	"github.com/emporium-shop/emporium/actors/catalog"
	"github.com/emporium-shop/emporium/actors/category"
	"github.com/emporium-shop/emporium/actors/inventory"
	"github.com/emporium-shop/emporium/actors/product"
	"github.com/emporium-shop/emporium/gateway"
	"github.com/emporium-shop/emporium/search"
	bleveindex "github.com/emporium-shop/emporium/search/bleve"
	elasticindex "github.com/emporium-shop/emporium/search/elastic"
)

// openSearch opens the search index (Elasticsearch when ELASTICSEARCH_URL is
// set, else bleve under DATA_DIR/search) and the indexer that follows the
// product and stock read models into it. The indexer runs with the
// background loops; grains notify it from the start.
func (n *Node) openSearch(ctx context.Context) error {
	idx, err := n.openIndex(ctx, n.searchDir())
	if err != nil {
		return err
	}
	n.Index = idx
	// Reindex may swap the index, so the one open at close time is closed.
	n.onClose("search index", func(context.Context) error { return n.Index.Close() })
	n.Indexer, err = n.newIndexer(idx)
	return err
}

func (n *Node) newIndexer(idx search.Index) (*search.Indexer, error) {
	cfg := search.IndexerConfig{
		Index:  idx,
		Source: &catalog.SearchSource{Reads: n.Store.Projections(), Logger: n.Logger},
		Logger: n.Logger,
	}
	// A member of a cluster with an embedded index has an index of its own:
	// it follows what the other members index through the search feed, so
	// that every member answers the same searches (search/feed.go). A lone
	// member, or one on the shared Elasticsearch index, needs no feed.
	if cursors, own := idx.(search.FeedCursors); own && n.Config.ClusterProvider != actors.ProviderLocal {
		cfg.Feed, cfg.Cursors = &catalog.SearchFeed{Journal: n.Store.Journal()}, cursors
	}
	return search.NewIndexer(cfg)
}

// searchDir is where the embedded index lives.
func (n *Node) searchDir() string { return filepath.Join(n.Config.DataDir, "search") }

func (n *Node) openIndex(ctx context.Context, dir string) (search.Index, error) {
	if n.Config.ElasticURL == "" {
		idx, err := bleveindex.Open(dir)
		if err != nil {
			return nil, fmt.Errorf("search: the embedded index in DATA_DIR=%s: %w", n.Config.DataDir, err)
		}
		return idx, nil
	}
	cfg := elasticindex.Config{URL: n.Config.ElasticURL, Index: n.Config.ElasticIndex}
	// Credentials go as basic authentication, not in the URL the client
	// logs.
	if u, err := url.Parse(n.Config.ElasticURL); err == nil && u.User != nil {
		cfg.Username = u.User.Username()
		cfg.Password, _ = u.User.Password()
		u.User = nil
		cfg.URL = u.String()
	}
	idx, err := elasticindex.Open(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("search: cannot use ELASTICSEARCH_URL: %w", err)
	}
	return idx, nil
}

// catalogService builds the catalogue service over the cluster, the read
// models and the index.
func (n *Node) catalogService() (*catalog.Service, error) {
	svc, err := catalog.NewService(catalog.Config{
		Cluster:    n.Cluster,
		Reads:      n.Store.Projections(),
		Index:      n.Index,
		Categories: category.NewReader(n.Store.Projections(), category.ReaderConfig{}),
		Claims:     n.claims(),
		Purchases:  nodePurchases{n},
		Logger:     n.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	return svc, nil
}

// nodePurchases answers the catalogue's purchase check (a review needs a
// delivered order line) from the order service, which the node builds
// after the catalogue (the order service reads the catalogue); requests
// are served only once both exist.
type nodePurchases struct{ n *Node }

func (p nodePurchases) Delivered(ctx context.Context, buyerID, productID string) (bool, error) {
	if p.n.Orders == nil {
		return false, emporium.Errorf(emporium.EUNAVAILABLE, "the order service is not ready; retry")
	}
	return p.n.Orders.Delivered(ctx, buyerID, productID)
}

// claims keeps uniqueness claims (usernames, emails, SKUs, store names,
// idempotency keys) as documents of the store.
func (n *Node) claims() *actors.DocumentClaims {
	return &actors.DocumentClaims{
		Collection: func(c string) actors.ClaimDocuments { return n.Store.Documents(c) },
		Now:        actors.SystemClock{}.Now,
	}
}

// ensureIndexes declares the store indexes of every read-model query the
// node makes: a vendor's products newest first, the products the search
// index has not taken yet, the SKUs whose reservations expire first, a
// product's reviews newest first, and the idempotency records oldest
// first.
// The embedded store refuses a query by a field without an index, so a
// query added without its index fails every test that runs it.
func (n *Node) ensureIndexes(ctx context.Context) error {
	err := n.Store.Projections().EnsureIndex(ctx, product.ViewCollection, "vendor_id", "-_id")
	if err == nil {
		err = (&catalog.SearchSource{Reads: n.Store.Projections()}).EnsureIndexes(ctx)
	}
	if err == nil {
		err = inventory.EnsureIndexes(ctx, n.Store.Projections())
	}
	if err == nil {
		err = product.EnsureIndexes(ctx, n.Store.Projections())
	}
	if err == nil {
		err = n.Store.Projections().EnsureIndex(ctx, gateway.IdempotencyCollection, idempotencyTimeField)
	}
	if err == nil {
		err = orderIndexes(ctx, n.Store.Projections())
	}
	if err != nil {
		return fmt.Errorf("node: creating the store's indexes: %w", err)
	}
	return nil
}

// Reindex rebuilds the search index from the product read models. The
// embedded index is rebuilt from nothing in a new directory that replaces
// the old one once complete, so that an interrupted rebuild leaves the old
// index in place; Elasticsearch is written over (versions keep it right).
// With the embedded store, run it while no server uses the same DATA_DIR.
func (n *Node) Reindex(ctx context.Context, progress func(done, total int)) error {
	if n.Config.ElasticURL != "" {
		return n.Indexer.Reindex(ctx, progress)
	}
	fresh := n.searchDir() + ".rebuild"
	if err := os.RemoveAll(fresh); err != nil {
		return fmt.Errorf("reindex: %w", err)
	}
	idx, err := n.openIndex(ctx, fresh)
	if err != nil {
		return err
	}
	x, err := n.newIndexer(idx)
	if err == nil {
		err = x.Reindex(ctx, progress)
	}
	if closeErr := idx.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		_ = os.RemoveAll(fresh)
		return fmt.Errorf("reindex: %w", err)
	}
	// Swap: the node's own index is closed first so that its directory can
	// go; the node is closing after a reindex anyway.
	if err := n.Index.Close(); err != nil {
		return fmt.Errorf("reindex: closing the old index: %w", err)
	}
	n.Index = closedIndex{}
	old := n.searchDir() + ".old"
	_ = os.RemoveAll(old)
	if err := os.Rename(n.searchDir(), old); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("reindex: %w", err)
	}
	if err := os.Rename(fresh, n.searchDir()); err != nil {
		return fmt.Errorf("reindex: %w", err)
	}
	return os.RemoveAll(old)
}

// closedIndex stands in for an index Reindex replaced, so that closing the
// node does not close the old one twice.
type closedIndex struct{ search.Index }

func (closedIndex) Close() error { return nil }
