package user

import (
	"slices"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/emporium-shop/emporium"
	pb "github.com/emporium-shop/emporium/protos/userpb"
)

func decideBeginTOTP(s *pb.State, c *pb.BeginTOTPRequest) ([]proto.Message, error) {
	if s.MfaEnabled {
		return nil, emporium.Errorf(emporium.ECONFLICT, "two-factor authentication is already enabled; disable it first")
	}
	if !validTOTPSecret(c.Secret) {
		return nil, emporium.Invalidf("secret", emporium.FieldInvalid,
			"secret must be %d-%d base32 characters", minTOTPSecretLen, maxTOTPSecretLen)
	}
	return []proto.Message{&pb.TOTPEnrollmentStarted{CommandId: c.CommandId, Secret: c.Secret}}, nil
}

func decideConfirmTOTP(s *pb.State, c *pb.ConfirmTOTPRequest, now time.Time) ([]proto.Message, error) {
	switch {
	case s.MfaEnabled:
		return nil, emporium.Errorf(emporium.ECONFLICT, "two-factor authentication is already enabled")
	case s.PendingTotpSecret == "":
		return nil, emporium.Errorf(emporium.ECONFLICT, "no two-factor enrolment is pending; start one first")
	case !c.CodeOk || c.CodeStep <= 0:
		return nil, invalidCode()
	}
	if fe := recoveryHashesError(c.RecoveryCodeHashes); fe != nil {
		return nil, emporium.InvalidFields(*fe)
	}
	return []proto.Message{&pb.TOTPEnabled{
		CommandId:          c.CommandId,
		LastStep:           c.CodeStep,
		RecoveryCodeHashes: slices.Clone(c.RecoveryCodeHashes),
		At:                 timestamppb.New(now),
	}}, nil
}

func decideUseTOTP(s *pb.State, c *pb.UseTOTPRequest) ([]proto.Message, error) {
	// A step not after the last one is a replay (or an older code after a
	// newer one): refused with the same answer as a wrong code.
	if !s.MfaEnabled || c.Step <= s.LastStep {
		return nil, invalidCode()
	}
	return []proto.Message{&pb.TOTPUsed{CommandId: c.CommandId, Step: c.Step}}, nil
}

func decideUseRecoveryCode(s *pb.State, c *pb.UseRecoveryCodeRequest) ([]proto.Message, error) {
	if !s.MfaEnabled || c.Index < 0 || int(c.Index) >= len(s.RecoveryCodeHashes) || s.RecoveryCodeHashes[c.Index] == "" {
		return nil, invalidCode()
	}
	return []proto.Message{&pb.RecoveryCodeUsed{CommandId: c.CommandId, Index: c.Index}}, nil
}

func decideDisableTOTP(s *pb.State, c *pb.DisableTOTPRequest, now time.Time) ([]proto.Message, error) {
	if !s.MfaEnabled {
		return nil, emporium.Errorf(emporium.ECONFLICT, "two-factor authentication is not enabled")
	}
	var errs []emporium.FieldError
	if !c.PasswordOk {
		errs = append(errs, emporium.Field("password", emporium.FieldInvalid, "the password is wrong"))
	}
	if !c.CodeOk || c.CodeStep <= s.LastStep {
		errs = append(errs, emporium.Field("code", emporium.FieldInvalid, "invalid code"))
	}
	if len(errs) > 0 {
		return nil, unauthenticated(errs...)
	}
	return []proto.Message{&pb.TOTPDisabled{CommandId: c.CommandId, At: timestamppb.New(now)}}, nil
}

func recoveryHashesError(hashes []string) *emporium.FieldError {
	const field = "recovery_code_hashes"
	if len(hashes) == 0 || len(hashes) > MaxRecoveryCodes {
		fe := emporium.Field(field, emporium.FieldInvalid, "%s must hold 1-%d hashes", field, MaxRecoveryCodes)
		return &fe
	}
	seen := make(map[string]bool, len(hashes))
	for _, h := range hashes {
		if h == "" || len(h) > maxTokenHashLen || seen[h] {
			fe := emporium.Field(field, emporium.FieldInvalid, "%s must be distinct, non-empty hashes", field)
			return &fe
		}
		seen[h] = true
	}
	return nil
}

// validTOTPSecret reports whether s is an unpadded base32 secret as
// auth.NewTOTP makes them.
func validTOTPSecret(s string) bool {
	if len(s) < minTOTPSecretLen || len(s) > maxTOTPSecretLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'A' && c <= 'Z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}
