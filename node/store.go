package node

import (
	"context"
	"log/slog"

	"github.com/emporium-shop/emporium/persistence"
	"github.com/emporium-shop/emporium/persistence/mongostore"
	"github.com/emporium-shop/emporium/persistence/sqlitestore"
)

// OpenStore opens the store the settings name: MongoDB when MONGODB_URI is
// set (clusters, production), and otherwise the embedded SQLite store under
// DATA_DIR (one node).
func OpenStore(ctx context.Context, cfg Config, logger *slog.Logger) (persistence.Store, error) {
	pc := persistence.Config{
		URI:      cfg.MongoURI,
		Database: cfg.MongoDatabase,
		DataDir:  cfg.DataDir,
		Logger:   logger,
	}
	if cfg.MongoURI != "" {
		return mongostore.Open(ctx, pc)
	}
	return sqlitestore.Open(ctx, pc)
}
