package user

import (
	"context"

	"github.com/asynkron/protoactor-go/cluster"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	userpb "github.com/emporium-shop/emporium/protos/userpb"
)

// IsVendor reports whether the caller p is a vendor: their token carries
// the vendor role or, for a token issued before they opened their store
// (which lacks the role), their account has a store. An unknown account is
// no vendor; an account that cannot be asked is an error.
func IsVendor(ctx context.Context, c *cluster.Cluster, p emporium.Principal) (bool, error) {
	if p.HasRole(emporium.RoleVendor) {
		return true, nil
	}
	acc, err := userpb.GetUserGrainGrainClient(c, p.UserID).Get(&userpb.GetRequest{}, actors.Within(ctx, c))
	switch {
	case err == nil:
		return acc.Store != nil, nil
	case emporium.IsCode(emporium.GrainCall("", err), emporium.ENOTFOUND):
		return false, nil
	}
	return false, emporium.GrainCall("user.IsVendor", err)
}
