package user

import (
	"time"

	pb "github.com/emporium-shop/emporium/protos/userpb"
)

// VendorsCollection is the read model of the vendors' store pages: one
// VendorView per vendor, _id = user id, written by the UserGrain whenever
// its store profile exists (DESIGN §5: read models written after the
// events). The catalogue reads it for GET /v1/vendors/{id}.
const VendorsCollection = "vendors"

// VendorView is a document of VendorsCollection. The store adds _id (the
// user id) and seq (the journal seq it reflects) when it writes one; ID is
// for decoding and is ignored on writes.
type VendorView struct {
	ID          string    `bson:"_id,omitempty"`
	StoreName   string    `bson:"store_name"`
	Description string    `bson:"description"`
	JoinedAt    time.Time `bson:"joined_at"`
}

// vendorView renders the store profile of s as its read model; ok is false
// when the account has no store.
func vendorView(s *pb.State) (v VendorView, ok bool) {
	if s.Store == nil {
		return VendorView{}, false
	}
	return VendorView{
		StoreName:   s.Store.StoreName,
		Description: s.Store.Description,
		JoinedAt:    s.Store.JoinedAt.AsTime(),
	}, true
}
