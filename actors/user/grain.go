package user

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/cluster"
	"google.golang.org/protobuf/proto"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	pb "github.com/emporium-shop/emporium/protos/userpb"
)

// The commands of the UserGrain (declared to the shell in kind.go): each
// decision's events are persisted before it answers, and the answer is
// built from the state after them. The checks of secrets
// (passwords, TOTP codes, recovery codes) arrive as outcomes in the commands
// (see user.proto): the grain never sees a secret in the clear. For the
// vendor store profile it also keeps store names unique with claims and
// writes the vendors read model. Wishlists are plain commands: their rules
// need only the account's state.

// grain is one activation of a UserGrain.
type grain struct {
	actors.Activation[*pb.State, kindConfig]
	// projected is the vendor view last written, so that the account's
	// other changes do not rewrite an unchanged store page.
	projected *VendorView
}

func (g *grain) Register(req *pb.RegisterRequest, ctx cluster.GrainContext) (*pb.Account, error) {
	return g.command(ctx, req)
}

func (g *grain) IssueVerification(req *pb.IssueVerificationRequest, ctx cluster.GrainContext) (*pb.Account, error) {
	return g.command(ctx, req)
}

func (g *grain) VerifyEmail(req *pb.VerifyEmailRequest, ctx cluster.GrainContext) (*pb.Account, error) {
	return g.command(ctx, req)
}

func (g *grain) StartPasswordReset(req *pb.StartPasswordResetRequest, ctx cluster.GrainContext) (*pb.Account, error) {
	return g.command(ctx, req)
}

func (g *grain) ResetPassword(req *pb.ResetPasswordRequest, ctx cluster.GrainContext) (*pb.Account, error) {
	return g.command(ctx, req)
}

func (g *grain) ChangePassword(req *pb.ChangePasswordRequest, ctx cluster.GrainContext) (*pb.Account, error) {
	return g.command(ctx, req)
}

func (g *grain) UpdateProfile(req *pb.UpdateProfileRequest, ctx cluster.GrainContext) (*pb.Account, error) {
	return g.command(ctx, req)
}

func (g *grain) RequestEmailChange(req *pb.RequestEmailChangeRequest, ctx cluster.GrainContext) (*pb.Account, error) {
	return g.command(ctx, req)
}

func (g *grain) BeginTOTP(req *pb.BeginTOTPRequest, ctx cluster.GrainContext) (*pb.Account, error) {
	return g.command(ctx, req)
}

func (g *grain) ConfirmTOTP(req *pb.ConfirmTOTPRequest, ctx cluster.GrainContext) (*pb.Account, error) {
	return g.command(ctx, req)
}

func (g *grain) UseTOTP(req *pb.UseTOTPRequest, ctx cluster.GrainContext) (*pb.Account, error) {
	return g.command(ctx, req)
}

func (g *grain) UseRecoveryCode(req *pb.UseRecoveryCodeRequest, ctx cluster.GrainContext) (*pb.Account, error) {
	return g.command(ctx, req)
}

func (g *grain) DisableTOTP(req *pb.DisableTOTPRequest, ctx cluster.GrainContext) (*pb.Account, error) {
	return g.command(ctx, req)
}

func (g *grain) AddAddress(req *pb.AddAddressRequest, ctx cluster.GrainContext) (*pb.Account, error) {
	return g.command(ctx, req)
}

func (g *grain) UpdateAddress(req *pb.UpdateAddressRequest, ctx cluster.GrainContext) (*pb.Account, error) {
	return g.command(ctx, req)
}

func (g *grain) RemoveAddress(req *pb.RemoveAddressRequest, ctx cluster.GrainContext) (*pb.Account, error) {
	return g.command(ctx, req)
}

func (g *grain) GrantRole(req *pb.GrantRoleRequest, ctx cluster.GrainContext) (*pb.Account, error) {
	return g.command(ctx, req)
}

// BecomeVendor opens or updates the store profile. A name the account does
// not hold yet is claimed before the events that carry it are persisted; the
// claim of a name the account no longer holds (renamed, or claimed for a
// write that did not happen) is given up afterwards.
func (g *grain) BecomeVendor(req *pb.BecomeVendorRequest, ctx cluster.GrainContext) (*pb.Account, error) {
	if g.Config.claims == nil {
		return nil, actors.GrainError(g.Log, emporium.Errorf(emporium.EINTERNAL,
			"user: BecomeVendor needs store name claims; build the kind with user.WithClaims"))
	}
	before := g.Entity.State.StoreNameKey
	var claimed []string
	now := g.Now()
	// The claim is made inside the step, against the state the events were
	// decided on: a decision taken again after a journal conflict claims
	// what it now needs, and a refusal or a retry claims nothing. The step
	// runs through the activation's Command, like every request's: it
	// refuses an activation that could not load and stops a stray after
	// answering.
	err := g.Command(ctx, req, func(s *pb.State, at time.Time) ([]proto.Message, error) {
		now = at
		events, err := decide(s, req, now)
		key := storeKeyOf(events)
		if err != nil || key == "" || key == s.StoreNameKey {
			return events, err
		}
		if err := g.checkLegacyStoreName(req.GetStoreName()); err != nil {
			return nil, err
		}
		if err := g.claimStoreName(key); err != nil {
			if emporium.IsCode(err, emporium.ECONFLICT) {
				return nil, emporium.Invalidf("store_name", emporium.FieldTaken, "this store name is taken")
			}
			return nil, err
		}
		claimed = append(claimed, key)
		return events, nil
	})
	switch emporium.ErrorCode(err) {
	case emporium.EINTERNAL, emporium.EUNAVAILABLE:
		// The append's outcome may be unknown: the new name may be in the
		// journal though not in the state yet. Keeping a claim costs a
		// name nobody else may take; dropping one in use costs its
		// uniqueness.
	default:
		g.releaseStoreNames(append(claimed, before), g.Entity.State.StoreNameKey)
	}
	if err != nil {
		return nil, err // already the error that crosses the cluster
	}
	return account(g.Entity.State, g.Entity.Seq, now), nil
}

// rekeyCommand is the command id of the re-keying a grain does of itself at
// activation; its events remember it, so it runs once per account.
const rekeyCommand = "rekey-store-name:tr39"

// Started re-keys, once, a store named under the rule before the
// confusables skeleton: the account's own BecomeVendor with the values it
// holds claims the store's key under NameSkeleton and gives the old key up,
// so that lookalikes of stores named before are refused too. The node
// activates every vendor once after an upgrade (node.rekeyStoreNames). A
// failure (the new key taken meanwhile by a lookalike, the store down) is
// logged; the old key stays claimed, and the next activation tries again.
func (g *grain) Started(ctx cluster.GrainContext) {
	s := g.Entity.State
	if s.Store == nil || g.Config.claims == nil || s.StoreNameKey == StoreNameKey(s.Store.StoreName) {
		return
	}
	_, err := g.BecomeVendor(&pb.BecomeVendorRequest{
		CommandId: rekeyCommand, StoreName: s.Store.StoreName, Description: s.Store.Description,
	}, ctx)
	if err != nil {
		g.Log.Warn("user: re-keying the store name failed; the old key stays claimed", slog.Any("error", err))
	}
}

// checkLegacyStoreName refuses a store name whose key under the rule before
// NameSkeleton (LegacyStoreNameKey) another vendor holds: claims made then
// are under that key, and stay valid. A name claimed only under the old key
// is its owner's still, and its own owner may claim the new key.
func (g *grain) checkLegacyStoreName(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), g.Config.IOTimeout)
	defer cancel()
	owner, _, err := g.Config.claims.Owner(ctx, StoreNamesCollection, LegacyStoreNameKey(strings.TrimSpace(name)))
	switch {
	case emporium.IsCode(err, emporium.ENOTFOUND):
		return nil
	case err != nil:
		return err
	case owner != g.ID():
		return emporium.Invalidf("store_name", emporium.FieldTaken, "this store name is taken")
	}
	return nil
}

func (g *grain) claimStoreName(key string) error {
	ctx, cancel := context.WithTimeout(context.Background(), g.Config.IOTimeout)
	defer cancel()
	return g.Config.claims.Claim(ctx, StoreNamesCollection, key, g.ID())
}

// releaseStoreNames gives up every key of some but keep. A failed release
// only leaves a name claimed by this account, which it can claim again; it
// is logged, not returned.
func (g *grain) releaseStoreNames(some []string, keep string) {
	ctx, cancel := context.WithTimeout(context.Background(), g.Config.IOTimeout)
	defer cancel()
	slices.Sort(some)
	for _, key := range slices.Compact(some) {
		if key == "" || key == keep {
			continue
		}
		if err := g.Config.claims.Release(ctx, StoreNamesCollection, key, g.ID()); err != nil {
			g.Log.Warn("user: releasing a store name failed", slog.String("key", key), slog.Any("error", err))
		}
	}
}

// Project writes the vendor read model when the account has a store and
// its page changed since the last write (or was never written by this
// activation).
func (g *grain) Project(state *pb.State, seq uint64) {
	if g.Config.views == nil {
		return
	}
	v, ok := vendorView(state)
	if !ok || g.projected != nil && *g.projected == v {
		return
	}
	g.Config.views.Put(VendorsCollection, g.ID(), seq, v)
	g.projected = &v
}

// Get answers the account view.
func (g *grain) Get(req *pb.GetRequest, ctx cluster.GrainContext) (*pb.Account, error) {
	if err := g.Query(ctx, decideStep(req)); err != nil {
		return nil, err
	}
	return account(g.Entity.State, g.Entity.Seq, g.Now()), nil
}

// GetCredentials answers the secrets callers check against. Internal.
func (g *grain) GetCredentials(req *pb.GetCredentialsRequest, ctx cluster.GrainContext) (*pb.Credentials, error) {
	if err := g.Query(ctx, decideStep(req)); err != nil {
		return nil, err
	}
	return credentials(g.Entity.State, g.Entity.Seq), nil
}

func (g *grain) CreateWishlist(req *pb.CreateWishlistRequest, ctx cluster.GrainContext) (*pb.Wishlists, error) {
	return g.wishlistCommand(ctx, req, req.WishlistId)
}

func (g *grain) RenameWishlist(req *pb.RenameWishlistRequest, ctx cluster.GrainContext) (*pb.Wishlists, error) {
	return g.wishlistCommand(ctx, req, req.WishlistId)
}

func (g *grain) DeleteWishlist(req *pb.DeleteWishlistRequest, ctx cluster.GrainContext) (*pb.Wishlists, error) {
	return g.wishlistCommand(ctx, req, req.WishlistId)
}

func (g *grain) AddWishlistItem(req *pb.AddWishlistItemRequest, ctx cluster.GrainContext) (*pb.Wishlists, error) {
	return g.wishlistCommand(ctx, req, req.WishlistId)
}

func (g *grain) RemoveWishlistItem(req *pb.RemoveWishlistItemRequest, ctx cluster.GrainContext) (*pb.Wishlists, error) {
	return g.wishlistCommand(ctx, req, req.WishlistId)
}

// GetWishlists answers the wishlists, or the one named.
func (g *grain) GetWishlists(req *pb.GetWishlistsRequest, ctx cluster.GrainContext) (*pb.Wishlists, error) {
	if err := g.Query(ctx, decideStep(req)); err != nil {
		return nil, err
	}
	return wishlistsView(g.Entity.State, g.Entity.Seq, req.WishlistId), nil
}

// wishlistCommand decides and persists a wishlist command, then answers the
// wishlist it names.
func (g *grain) wishlistCommand(ctx cluster.GrainContext, cmd proto.Message, id string) (*pb.Wishlists, error) {
	if err := g.Command(ctx, cmd, decideStep(cmd)); err != nil {
		return nil, err
	}
	if id == "" {
		// Only a reused command id gets here (the shell refuses an empty id):
		// it names no list, so it answers none rather than all.
		return &pb.Wishlists{Seq: g.Entity.Seq}, nil
	}
	return wishlistsView(g.Entity.State, g.Entity.Seq, id), nil
}

// command decides and persists a command, then answers the account.
func (g *grain) command(ctx cluster.GrainContext, cmd proto.Message) (*pb.Account, error) {
	if err := g.Command(ctx, cmd, decideStep(cmd)); err != nil {
		return nil, err
	}
	return account(g.Entity.State, g.Entity.Seq, g.Now()), nil
}

// decideStep is the step that decides cmd with the core.
func decideStep(cmd proto.Message) actors.Step[*pb.State] {
	return func(s *pb.State, now time.Time) ([]proto.Message, error) { return decide(s, cmd, now) }
}

var _ pb.UserGrain = (*grain)(nil)
