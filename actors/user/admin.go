package user

import (
	"context"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	"github.com/emporium-shop/emporium/auth"
	pb "github.com/emporium-shop/emporium/protos/userpb"
)

// CreateUser registers an account that is verified at once and has roles,
// for operators (`emporium admin create-user`). Unlike Signup it says when
// the username or email is taken, and it sends no mail: the operator is the
// one who knows the address is real.
func (s *Service) CreateUser(ctx context.Context, username, email, password string, roles []string) (emporium.Account, error) {
	const op = "user.Service.CreateUser"
	if err := joinFields(CheckUsername(username), CheckEmail("email", email),
		auth.CheckPassword(password, username, email)); err != nil {
		return emporium.Account{}, err
	}
	for _, role := range roles {
		if role != RoleCustomer && role != RoleVendor && role != RoleAdmin {
			return emporium.Account{}, emporium.Invalidf("role", emporium.FieldInvalid, "a role is customer, vendor or admin")
		}
	}
	pwHash, err := auth.HashPassword(password)
	if err != nil {
		return emporium.Account{}, emporium.Wrap(op, err)
	}
	_, tokenHash, err := auth.NewToken()
	if err != nil {
		return emporium.Account{}, emporium.Wrap(op, err)
	}
	id := s.cfg.NewID()
	ekey := EmailKey(email)
	ukey, err := s.claimUsername(ctx, username, id)
	if err != nil {
		if emporium.IsCode(err, emporium.ECONFLICT) {
			return emporium.Account{}, emporium.Invalidf("username", emporium.FieldTaken, "this username is taken")
		}
		return emporium.Account{}, emporium.Wrap(op, err)
	}
	if err := s.claim(ctx, EmailsCollection, ekey, id); err != nil {
		s.release(ctx, UsernamesCollection, ukey, id)
		if emporium.IsCode(err, emporium.ECONFLICT) {
			return emporium.Account{}, emporium.Invalidf("email", emporium.FieldTaken, "this email has an account")
		}
		return emporium.Account{}, emporium.Wrap(op, err)
	}
	users := s.users(id)
	if _, err := users.Register(&pb.RegisterRequest{
		CommandId: "register:" + id, Username: username, Email: email, PasswordHash: pwHash,
		VerifyTokenHash: tokenHash, VerifyExpiresAt: timestamppb.New(s.now().Add(VerifyTTL)),
	}, actors.Within(ctx, s.cfg.Cluster)); err != nil {
		s.release(ctx, EmailsCollection, ekey, id)
		s.release(ctx, UsernamesCollection, ukey, id)
		return emporium.Account{}, emporium.GrainCall(op, err)
	}
	acc, err := users.VerifyEmail(&pb.VerifyEmailRequest{CommandId: "admin-verify:" + id, TokenHash: tokenHash}, actors.Within(ctx, s.cfg.Cluster))
	if err != nil {
		return emporium.Account{}, emporium.GrainCall(op, err)
	}
	for _, role := range roles {
		if acc, err = users.GrantRole(&pb.GrantRoleRequest{CommandId: "admin-grant:" + role, Role: role}, actors.Within(ctx, s.cfg.Cluster)); err != nil {
			return emporium.Account{}, emporium.GrainCall(op, err)
		}
	}
	return toAccount(acc), nil
}
