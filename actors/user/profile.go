package user

import (
	"context"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	"github.com/emporium-shop/emporium/auth"
	"github.com/emporium-shop/emporium/mail"
	pb "github.com/emporium-shop/emporium/protos/userpb"
)

func needPrincipal(p emporium.Principal) error {
	if p.UserID == "" {
		return emporium.Errorf(emporium.EUNAUTHENTICATED, "authentication required")
	}
	return nil
}

// Account implements emporium.Accounts.
func (s *Service) Account(ctx context.Context, p emporium.Principal) (emporium.Account, error) {
	if err := needPrincipal(p); err != nil {
		return emporium.Account{}, err
	}
	acc, err := s.users(p.UserID).Get(&pb.GetRequest{}, actors.Within(ctx, s.cfg.Cluster))
	if err != nil {
		return emporium.Account{}, emporium.GrainCall("user.Service.Account", err)
	}
	return toAccount(acc), nil
}

// UpdateAccount implements emporium.Accounts.
func (s *Service) UpdateAccount(ctx context.Context, p emporium.Principal, in emporium.AccountUpdate) (emporium.Account, error) {
	const op = "user.Service.UpdateAccount"
	if err := needPrincipal(p); err != nil {
		return emporium.Account{}, err
	}
	users := s.users(p.UserID)
	acc, err := users.Get(&pb.GetRequest{}, actors.Within(ctx, s.cfg.Cluster))
	if err != nil {
		return emporium.Account{}, emporium.GrainCall(op, err)
	}
	if in.Email != nil {
		// Checked before anything changes, so a refused email leaves the
		// profile as it was.
		if err := CheckEmail("email", *in.Email); err != nil {
			return emporium.Account{}, err
		}
		if EmailKey(*in.Email) == EmailKey(acc.Email) {
			return emporium.Account{}, emporium.Invalidf("email", emporium.FieldUnchanged, "email is the account's email already")
		}
		if err := s.confirmPassword(ctx, p.UserID, in.CurrentPassword, "current_password"); err != nil {
			return emporium.Account{}, err
		}
	}
	if in.Name != nil || in.Phone != nil {
		req := &pb.UpdateProfileRequest{CommandId: s.cfg.NewID()}
		if in.Name != nil {
			req.Name = wrapperspb.String(*in.Name)
		}
		if in.Phone != nil {
			req.Phone = wrapperspb.String(*in.Phone)
		}
		if acc, err = users.UpdateProfile(req, actors.Within(ctx, s.cfg.Cluster)); err != nil {
			return emporium.Account{}, emporium.GrainCall(op, err)
		}
	}
	if in.Email != nil {
		if acc, err = s.changeEmail(ctx, acc, *in.Email); err != nil {
			return emporium.Account{}, err
		}
	}
	return toAccount(acc), nil
}

// changeEmail claims the new address, records the pending change and mails
// its link to the new address.
func (s *Service) changeEmail(ctx context.Context, acc *pb.Account, email string) (*pb.Account, error) {
	const op = "user.Service.changeEmail"
	key := EmailKey(email)
	prev := ""
	if acc.PendingEmail != "" {
		prev = EmailKey(acc.PendingEmail)
	}
	if err := s.claim(ctx, EmailsCollection, key, acc.Id); err != nil {
		if emporium.IsCode(err, emporium.ECONFLICT) {
			return nil, emporium.Invalidf("email", emporium.FieldTaken, "this email address is used by another account")
		}
		return nil, emporium.Wrap(op, err)
	}
	plain, hash, err := auth.NewToken()
	if err != nil {
		return nil, emporium.Wrap(op, err)
	}
	next, err := s.users(acc.Id).RequestEmailChange(&pb.RequestEmailChangeRequest{
		CommandId: s.cfg.NewID(), NewEmail: email, TokenHash: hash,
		ExpiresAt: timestamppb.New(s.now().Add(VerifyTTL)),
	}, actors.Within(ctx, s.cfg.Cluster))
	if err != nil {
		if key != prev {
			s.release(ctx, EmailsCollection, key, acc.Id)
		}
		return nil, renameField(emporium.GrainCall(op, err), "new_email", "email")
	}
	if prev != "" && prev != key {
		s.release(ctx, EmailsCollection, prev, acc.Id)
	}
	if err := s.indexToken(ctx, op, auth.TokenVerify, hash, acc.Id, VerifyTTL); err != nil {
		return nil, err
	}
	to, name := next.PendingEmail, next.Username
	s.mailLink(op, "/verify-email", plain, func(link string) mail.Message {
		return mail.EmailChange(to, name, link)
	})
	// The current address hears of it too: if the change is an attacker's
	// with a stolen session, the owner learns in time to reset the password.
	notice := emailChangeNotice(acc.Email, to, s.now())
	s.background(op, func(ctx context.Context) error { return s.send(ctx, notice) })
	return next, nil
}

// emailChangeNotice tells the current address that a change to another was
// requested (mail has no template for it: a short text mail).
func emailChangeNotice(current, requested string, at time.Time) mail.Message {
	text := "A change of your account's email address to " + requested + " was requested on " + noticeTime(at) + ".\n\n" +
		"Nothing changes until the new address is confirmed. If you did not ask for this, reset your " +
		"password now: that ends every session of your account.\n"
	return mail.Message{To: current, Subject: "Your email address is being changed", Text: text}
}

// renameField renames a field of a validation error (the grain's names for
// the API's).
func renameField(err error, from, to string) error {
	fields := emporium.ErrorFields(err)
	if len(fields) == 0 {
		return err
	}
	out := make([]emporium.FieldError, len(fields))
	for i, f := range fields {
		if f.Field == from {
			f.Field = to
			f.Message = strings.ReplaceAll(f.Message, from, to)
		}
		out[i] = f
	}
	e := emporium.InvalidFields(out...)
	e.Code, e.Err = emporium.ErrorCode(err), err
	return e
}

func toAccount(a *pb.Account) emporium.Account {
	return emporium.Account{
		ID: a.Id, Username: a.Username, Email: a.Email, EmailVerified: a.EmailVerified,
		PendingEmail: a.PendingEmail, Name: a.Name, Phone: a.Phone, Roles: slices.Clone(a.Roles),
		MFAEnabled: a.MfaEnabled, CreatedAt: timeOf(a.CreatedAt),
	}
}

func timeOf(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime().UTC()
}
