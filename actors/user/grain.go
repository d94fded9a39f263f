package user

import (
	"context"

	"github.com/asynkron/protoactor-go/cluster"
	"google.golang.org/protobuf/proto"

	"github.com/emporium-shop/emporium/actors"
	pb "github.com/emporium-shop/emporium/protos/userpb"
)

// The actor shell of the UserGrain: it loads an account through
// actors.Entity, persists each decision's events before it answers, and
// builds the answer from the state after them. The checks of secrets
// (passwords, TOTP codes, recovery codes) arrive as outcomes in the commands
// (see user.proto): the grain never sees a secret in the clear.

// Kind is the cluster kind name of the UserGrain.
const Kind = "UserGrain"

// Config is what the UserGrain needs from the node.
type Config = actors.GrainConfig

// NewKind returns the cluster kind that activates UserGrains with cfg.
func NewKind(cfg Config) *cluster.Kind {
	cfg.WithDefaults()
	cfg.Activations.Register(Kind)
	return pb.NewUserGrainKind(func() pb.UserGrain { return &grain{} }, cfg.IdleTimeout, configs.Hook(&cfg))
}

// configs hands each activation its kind's Config.
var configs actors.Configs[Config]

// Stream returns the journal stream of a user's account.
func Stream(userID string) string { return "user-" + userID }

// Replay rebuilds an account from its whole journal, ignoring snapshots.
func Replay(ctx context.Context, journal actors.Journal, userID string) (*pb.State, error) {
	return actors.Replay(ctx, journal, Stream(userID), newState(userID), apply)
}

// grain is one activation of a UserGrain.
type grain struct {
	actors.Activation[*pb.State]
	cfg    *Config
	userID string
}

// Init loads the account.
func (g *grain) Init(ctx cluster.GrainContext) {
	g.userID = ctx.Identity()
	g.cfg = configs.Take(ctx.Self())
	g.Start(ctx, Kind, g.cfg, actors.NewEntity(g.cfg, Stream(g.userID),
		func() *pb.State { return newState(g.userID) }, apply,
		func() proto.Message { return &pb.Fenced{} }))
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
