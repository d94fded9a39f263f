package user

import (
	"context"
	"log/slog"
	"slices"

	"github.com/asynkron/protoactor-go/cluster"
	"google.golang.org/protobuf/proto"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	pb "github.com/emporium-shop/emporium/protos/userpb"
)

// The actor shell of the UserGrain: it loads an account through
// actors.Entity, persists each decision's events before it answers, and
// builds the answer from the state after them. The checks of secrets
// (passwords, TOTP codes, recovery codes) arrive as outcomes in the commands
// (see user.proto): the grain never sees a secret in the clear. For the
// vendor store profile it also keeps store names unique with claims and
// writes the vendors read model. Wishlists are plain commands: their rules
// need only the account's state.

// Kind is the cluster kind name of the UserGrain.
const Kind = "UserGrain"

// Config is what the UserGrain needs from the node.
type Config = actors.GrainConfig

// Option gives the UserGrain kind what it needs beyond Config: the stores of
// the vendor store profile. (Options rather than fields keep Config the
// GrainConfig every kind shares.)
type Option func(*kindConfig)

// WithClaims keeps store names unique across vendors through claims in
// StoreNamesCollection (the node passes its actors.DocumentClaims). Without
// it BecomeVendor fails with `internal`: a name nothing guards could be
// taken twice.
func WithClaims(c actors.Claims) Option { return func(k *kindConfig) { k.claims = c } }

// WithViews writes the vendors read model (VendorsCollection) through v (the
// node's persistence.Projections). Without it none is kept.
func WithViews(v actors.Views) Option { return func(k *kindConfig) { k.views = v } }

// kindConfig is what one activation receives: Config and the options.
type kindConfig struct {
	Config
	claims actors.Claims
	views  actors.Views
}

// NewKind returns the cluster kind that activates UserGrains with cfg and
// opts.
func NewKind(cfg Config, opts ...Option) *cluster.Kind {
	cfg.WithDefaults()
	cfg.Activations.Register(Kind)
	k := &kindConfig{Config: cfg}
	for _, o := range opts {
		o(k)
	}
	return pb.NewUserGrainKind(func() pb.UserGrain { return &grain{} }, cfg.IdleTimeout, configs.Hook(k))
}

// configs hands each activation its kind's configuration.
var configs actors.Configs[kindConfig]

// Stream returns the journal stream of a user's account.
func Stream(userID string) string { return "user-" + userID }

// Replay rebuilds an account from its whole journal, ignoring snapshots.
func Replay(ctx context.Context, journal actors.Journal, userID string) (*pb.State, error) {
	return actors.Replay(ctx, journal, Stream(userID), newState(userID), apply)
}

// grain is one activation of a UserGrain.
type grain struct {
	actors.Activation[*pb.State]
	cfg    *kindConfig
	userID string
	// projected is the vendor view last written, so that the account's
	// other changes do not rewrite an unchanged store page.
	projected *VendorView
}

// Init loads the account and writes its vendor view, which a crash may have
// left behind the journal.
func (g *grain) Init(ctx cluster.GrainContext) {
	g.userID = ctx.Identity()
	g.cfg = configs.Take(ctx.Self())
	e := actors.NewEntity(&g.cfg.Config, Stream(g.userID),
		func() *pb.State { return newState(g.userID) }, apply,
		func() proto.Message { return &pb.Fenced{} })
	e.Changed = g.project
	if g.Start(ctx, Kind, &g.cfg.Config, e); g.Loaded() {
		g.E.Refresh()
	}
}

// Terminate snapshots when that saves replay.
func (g *grain) Terminate(ctx cluster.GrainContext) { g.Stop(ctx) }

// ReceiveDefault ignores other messages: the grain has no timers.
func (g *grain) ReceiveDefault(cluster.GrainContext) {}

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
	if err := g.Usable(ctx); err != nil {
		return nil, err
	}
	if g.cfg.claims == nil {
		return nil, actors.GrainError(g.Log, emporium.Errorf(emporium.EINTERNAL,
			"user: BecomeVendor needs store name claims; build the kind with user.WithClaims"))
	}
	before := g.E.State.StoreNameKey
	var claimed []string
	now := g.cfg.Clock.Now()
	// The claim is made inside the step, against the state the events were
	// decided on: a decision taken again after a journal conflict claims
	// what it now needs, and a refusal or a retry claims nothing.
	err := g.E.Run(true, func(s *pb.State) ([]proto.Message, error) {
		events, err := decide(s, req, now)
		key := storeKeyOf(events)
		if err != nil || key == "" || key == s.StoreNameKey {
			return events, err
		}
		if err := g.claimStoreName(key); err != nil {
			if emporium.IsCode(err, emporium.ECONFLICT) {
				return nil, fieldsError(fieldErr("store_name", CodeTaken, "this store name is taken"))
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
		g.releaseStoreNames(append(claimed, before), g.E.State.StoreNameKey)
	}
	if err != nil {
		return nil, actors.GrainError(g.Log, err)
	}
	return account(g.E.State, g.E.Seq, now), nil
}

func (g *grain) claimStoreName(key string) error {
	ctx, cancel := context.WithTimeout(context.Background(), g.cfg.IOTimeout)
	defer cancel()
	return g.cfg.claims.Claim(ctx, StoreNamesCollection, key, g.userID)
}

// releaseStoreNames gives up every key of some but keep. A failed release
// only leaves a name claimed by this account, which it can claim again; it
// is logged, not returned.
func (g *grain) releaseStoreNames(some []string, keep string) {
	ctx, cancel := context.WithTimeout(context.Background(), g.cfg.IOTimeout)
	defer cancel()
	slices.Sort(some)
	for _, key := range slices.Compact(some) {
		if key == "" || key == keep {
			continue
		}
		if err := g.cfg.claims.Release(ctx, StoreNamesCollection, key, g.userID); err != nil {
			g.Log.Warn("user: releasing a store name failed", slog.String("key", key), slog.Any("error", err))
		}
	}
}

// project writes the vendor read model when the account has a store and
// its page changed since the last write (or was never written by this
// activation).
func (g *grain) project(state *pb.State, seq uint64) {
	if g.cfg.views == nil {
		return
	}
	v, ok := vendorView(state)
	if !ok || g.projected != nil && *g.projected == v {
		return
	}
	g.cfg.views.Put(VendorsCollection, g.userID, seq, v)
	g.projected = &v
}

// Get answers the account view.
func (g *grain) Get(req *pb.GetRequest, ctx cluster.GrainContext) (*pb.Account, error) {
	if err := g.run(ctx, false, req); err != nil {
		return nil, err
	}
	return account(g.E.State, g.E.Seq, g.cfg.Clock.Now()), nil
}

// GetCredentials answers the secrets callers check against. Internal.
func (g *grain) GetCredentials(req *pb.GetCredentialsRequest, ctx cluster.GrainContext) (*pb.Credentials, error) {
	if err := g.run(ctx, false, req); err != nil {
		return nil, err
	}
	return credentials(g.E.State, g.E.Seq), nil
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
	if err := g.run(ctx, false, req); err != nil {
		return nil, err
	}
	return wishlistsView(g.E.State, g.E.Seq, req.WishlistId), nil
}

// wishlistCommand decides and persists a wishlist command, then answers the
// wishlist it names.
func (g *grain) wishlistCommand(ctx cluster.GrainContext, cmd proto.Message, id string) (*pb.Wishlists, error) {
	if err := g.run(ctx, true, cmd); err != nil {
		return nil, err
	}
	if id == "" {
		// Only a reused command id gets here (decide refuses an empty id):
		// it names no list, so it answers none rather than all.
		return &pb.Wishlists{Seq: g.E.Seq}, nil
	}
	return wishlistsView(g.E.State, g.E.Seq, id), nil
}

// command decides and persists a command, then answers the account.
func (g *grain) command(ctx cluster.GrainContext, cmd proto.Message) (*pb.Account, error) {
	if err := g.run(ctx, true, cmd); err != nil {
		return nil, err
	}
	return account(g.E.State, g.E.Seq, g.cfg.Clock.Now()), nil
}

// run decides cmd against the current state (again after a journal
// conflict) and persists its events; the error crosses the cluster.
func (g *grain) run(ctx cluster.GrainContext, mutating bool, cmd proto.Message) error {
	if err := g.Usable(ctx); err != nil {
		return err
	}
	now := g.cfg.Clock.Now()
	err := g.E.Run(mutating, func(s *pb.State) ([]proto.Message, error) {
		return decide(s, cmd, now)
	})
	return actors.GrainError(g.Log, err)
}

var _ pb.UserGrain = (*grain)(nil)
