package catalog

import (
	"context"

	"github.com/emporium-shop/emporium/actors/inventory"
	"github.com/emporium-shop/emporium/actors/product"
)

// The read-model lookups the catalogue service, the carts' catalogue
// (Items) and the search source share. Each takes any store that can
// batch-read documents by id (ItemReads; *persistence.Projections).

// stockDocument is what the catalogue reads of a SKU's stock read model.
type stockDocument struct {
	SKU       string `bson:"_id"`
	Seq       uint64 `bson:"seq"`
	Available int64  `bson:"available"`
}

// skuOwner is a SKU's claim document (actors.DocumentClaims): the product
// that holds the SKU.
type skuOwner struct {
	SKU   string `bson:"_id"`
	Owner string `bson:"owner"`
}

// stockOf reads the stock of skus in one batch, by SKU. A SKU never stocked
// has no entry.
func stockOf(ctx context.Context, r ItemReads, skus []string) (map[string]stockDocument, error) {
	var docs []stockDocument
	if err := r.GetMany(ctx, inventory.ViewCollection, skus, &docs); err != nil {
		return nil, err
	}
	out := make(map[string]stockDocument, len(docs))
	for _, d := range docs {
		out[d.SKU] = d
	}
	return out, nil
}

// ownersOf reads which product holds each of skus, in one batch. A SKU no
// product holds has no entry.
func ownersOf(ctx context.Context, r ItemReads, skus []string) (map[string]string, error) {
	var docs []skuOwner
	if err := r.GetMany(ctx, product.SKUsCollection, skus, &docs); err != nil {
		return nil, err
	}
	out := make(map[string]string, len(docs))
	for _, d := range docs {
		if d.Owner != "" {
			out[d.SKU] = d.Owner
		}
	}
	return out, nil
}
