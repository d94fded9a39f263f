package user

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/emporium-shop/emporium"
	pb "github.com/emporium-shop/emporium/protos/userpb"
)

// TestDecideMFA checks decide on BeginTOTP, ConfirmTOTP, UseTOTP, UseRecoveryCode and DisableTOTP.
func TestDecideMFA(t *testing.T) {
	runDecide(t, []decideCase{
		// BeginTOTP.
		{name: "begin totp", given: verified, cmd: &pb.BeginTOTPRequest{CommandId: "tb", Secret: secret},
			want: []proto.Message{&pb.TOTPEnrollmentStarted{CommandId: "tb", Secret: secret}},
			check: func(t *testing.T, s *pb.State) {
				assert.False(t, s.MfaEnabled, "not enabled before a code confirms it")
				assert.Equal(t, secret, s.PendingTotpSecret)
			}},
		{name: "begin totp again replaces the secret", given: enrolling, cmd: &pb.BeginTOTPRequest{CommandId: "tb2", Secret: "ABCDEFGHIJKLMNOP"},
			want: []proto.Message{&pb.TOTPEnrollmentStarted{CommandId: "tb2", Secret: "ABCDEFGHIJKLMNOP"}}},
		{name: "begin totp retried", given: enrolling, cmd: &pb.BeginTOTPRequest{CommandId: "tb", Secret: secret}},
		{name: "begin totp while enabled", given: mfa, cmd: &pb.BeginTOTPRequest{CommandId: "tb2", Secret: secret},
			errCode: emporium.ECONFLICT},
		{name: "begin totp bad secret", given: verified, cmd: &pb.BeginTOTPRequest{CommandId: "tb", Secret: "not-base32!"},
			errCode: emporium.EINVALID, field: "secret", fieldCode: emporium.FieldInvalid},

		// ConfirmTOTP.
		{name: "confirm totp", given: enrolling,
			cmd:  &pb.ConfirmTOTPRequest{CommandId: "tc", CodeStep: 100, CodeOk: true, RecoveryCodeHashes: recoveryHashes(10)},
			want: []proto.Message{&pb.TOTPEnabled{CommandId: "tc", LastStep: 100, RecoveryCodeHashes: recoveryHashes(10), At: at0}},
			check: func(t *testing.T, s *pb.State) {
				assert.True(t, s.MfaEnabled)
				assert.Equal(t, secret, s.TotpSecret)
				assert.Empty(t, s.PendingTotpSecret)
				assert.Equal(t, int64(100), s.LastStep)
			}},
		{name: "confirm totp retried", given: mfa,
			cmd: &pb.ConfirmTOTPRequest{CommandId: "tc", CodeStep: 100, CodeOk: true, RecoveryCodeHashes: recoveryHashes(10)}},
		{name: "confirm totp without enrolment", given: verified,
			cmd:     &pb.ConfirmTOTPRequest{CommandId: "tc", CodeStep: 100, CodeOk: true, RecoveryCodeHashes: recoveryHashes(10)},
			errCode: emporium.ECONFLICT},
		{name: "confirm totp when enabled", given: mfa,
			cmd:     &pb.ConfirmTOTPRequest{CommandId: "tc2", CodeStep: 101, CodeOk: true, RecoveryCodeHashes: recoveryHashes(10)},
			errCode: emporium.ECONFLICT},
		{name: "confirm totp wrong code", given: enrolling,
			cmd:     &pb.ConfirmTOTPRequest{CommandId: "tc", CodeStep: 100, RecoveryCodeHashes: recoveryHashes(10)},
			errCode: emporium.EUNAUTHENTICATED, field: "code", fieldCode: emporium.FieldInvalid},
		{name: "confirm totp without recovery codes", given: enrolling,
			cmd:     &pb.ConfirmTOTPRequest{CommandId: "tc", CodeStep: 100, CodeOk: true},
			errCode: emporium.EINVALID, field: "recovery_code_hashes", fieldCode: emporium.FieldInvalid},
		{name: "confirm totp with repeated recovery codes", given: enrolling,
			cmd:     &pb.ConfirmTOTPRequest{CommandId: "tc", CodeStep: 100, CodeOk: true, RecoveryCodeHashes: []string{tok(1), tok(1)}},
			errCode: emporium.EINVALID, field: "recovery_code_hashes", fieldCode: emporium.FieldInvalid},

		// UseTOTP.
		{name: "use totp", given: mfa, cmd: &pb.UseTOTPRequest{CommandId: "l1", Step: 101},
			want:  []proto.Message{&pb.TOTPUsed{CommandId: "l1", Step: 101}},
			check: func(t *testing.T, s *pb.State) { assert.Equal(t, int64(101), s.LastStep) }},
		{name: "use totp replayed", given: mfa, cmd: &pb.UseTOTPRequest{CommandId: "l1", Step: 100},
			errCode: emporium.EUNAUTHENTICATED, field: "code", fieldCode: emporium.FieldInvalid},
		{name: "use totp older step", given: mfa, cmd: &pb.UseTOTPRequest{CommandId: "l1", Step: 99},
			errCode: emporium.EUNAUTHENTICATED, field: "code"},
		{name: "use totp retried", given: with(mfa, &pb.TOTPUsed{CommandId: "l1", Step: 101}),
			cmd: &pb.UseTOTPRequest{CommandId: "l1", Step: 101}},
		{name: "use totp without mfa", given: verified, cmd: &pb.UseTOTPRequest{CommandId: "l1", Step: 101},
			errCode: emporium.EUNAUTHENTICATED, field: "code"},
		{name: "use totp without command id", given: mfa, cmd: &pb.UseTOTPRequest{Step: 101},
			errCode: emporium.EINVALID, field: "command_id"},

		// UseRecoveryCode.
		{name: "use recovery code", given: mfa, cmd: &pb.UseRecoveryCodeRequest{CommandId: "l1", Index: 2},
			want: []proto.Message{&pb.RecoveryCodeUsed{CommandId: "l1", Index: 2}},
			check: func(t *testing.T, s *pb.State) {
				assert.Empty(t, s.RecoveryCodeHashes[2])
				assert.Len(t, s.RecoveryCodeHashes, 10, "indexes do not shift")
				assert.Equal(t, int32(9), account(s, 0, t0).RecoveryCodesLeft)
			}},
		{name: "use recovery code twice", given: with(mfa, &pb.RecoveryCodeUsed{CommandId: "l1", Index: 2}),
			cmd: &pb.UseRecoveryCodeRequest{CommandId: "l2", Index: 2}, errCode: emporium.EUNAUTHENTICATED, field: "code"},
		{name: "use recovery code retried", given: with(mfa, &pb.RecoveryCodeUsed{CommandId: "l1", Index: 2}),
			cmd: &pb.UseRecoveryCodeRequest{CommandId: "l1", Index: 2}},
		{name: "use recovery code out of range", given: mfa, cmd: &pb.UseRecoveryCodeRequest{CommandId: "l1", Index: 10},
			errCode: emporium.EUNAUTHENTICATED, field: "code"},
		{name: "use recovery code negative", given: mfa, cmd: &pb.UseRecoveryCodeRequest{CommandId: "l1", Index: -1},
			errCode: emporium.EUNAUTHENTICATED, field: "code"},
		{name: "use recovery code without mfa", given: verified, cmd: &pb.UseRecoveryCodeRequest{CommandId: "l1"},
			errCode: emporium.EUNAUTHENTICATED, field: "code"},

		// DisableTOTP.
		{name: "disable totp", given: mfa,
			cmd:  &pb.DisableTOTPRequest{CommandId: "td", PasswordOk: true, CodeStep: 101, CodeOk: true},
			want: []proto.Message{&pb.TOTPDisabled{CommandId: "td", At: at0}},
			check: func(t *testing.T, s *pb.State) {
				assert.False(t, s.MfaEnabled)
				assert.Empty(t, s.TotpSecret)
				assert.Empty(t, s.RecoveryCodeHashes)
				assert.Zero(t, s.LastStep)
			}},
		{name: "disable totp wrong password", given: mfa,
			cmd:     &pb.DisableTOTPRequest{CommandId: "td", CodeStep: 101, CodeOk: true},
			errCode: emporium.EUNAUTHENTICATED, field: "password", fieldCode: emporium.FieldInvalid},
		{name: "disable totp wrong code", given: mfa,
			cmd:     &pb.DisableTOTPRequest{CommandId: "td", PasswordOk: true, CodeStep: 101},
			errCode: emporium.EUNAUTHENTICATED, field: "code", fieldCode: emporium.FieldInvalid},
		{name: "disable totp replayed code", given: mfa,
			cmd:     &pb.DisableTOTPRequest{CommandId: "td", PasswordOk: true, CodeStep: 100, CodeOk: true},
			errCode: emporium.EUNAUTHENTICATED, field: "code", fieldCode: emporium.FieldInvalid},
		{name: "disable totp when off", given: verified,
			cmd:     &pb.DisableTOTPRequest{CommandId: "td", PasswordOk: true, CodeStep: 101, CodeOk: true},
			errCode: emporium.ECONFLICT},
		{name: "disable totp retried", given: with(mfa, &pb.TOTPDisabled{CommandId: "td", At: at0}),
			cmd: &pb.DisableTOTPRequest{CommandId: "td", PasswordOk: true, CodeStep: 101, CodeOk: true}},
	})
}

func TestDisableTOTPNamesEveryFailedFactor(t *testing.T) {
	s := given(registeredEv(), &pb.TOTPEnrollmentStarted{CommandId: "tb", Secret: secret},
		&pb.TOTPEnabled{CommandId: "tc", LastStep: 100, RecoveryCodeHashes: recoveryHashes(3), At: ts(created)})
	_, err := decideAsShell(s, &pb.DisableTOTPRequest{CommandId: "td", CodeStep: 101}, t0)
	require.True(t, emporium.IsCode(err, emporium.EUNAUTHENTICATED))
	assert.True(t, hasField(err, "password", emporium.FieldInvalid))
	assert.True(t, hasField(err, "code", emporium.FieldInvalid))
}

// TestTOTPReplay: each code works once, and an older code cannot follow a
// newer one; a retry of the accepted login is answered without error.
func TestTOTPReplay(t *testing.T) {
	s := given(registeredEv(), &pb.EmailVerified{CommandId: "v", At: ts(created)})
	run := func(cmd proto.Message) error {
		events, err := decideAsShell(s, cmd, t0)
		for _, ev := range events {
			Spec.Fold(s, ev)
		}
		return err
	}
	require.NoError(t, run(&pb.BeginTOTPRequest{CommandId: "b", Secret: secret}))
	require.NoError(t, run(&pb.ConfirmTOTPRequest{CommandId: "c", CodeStep: 100, CodeOk: true, RecoveryCodeHashes: recoveryHashes(10)}))
	assert.Error(t, run(&pb.UseTOTPRequest{CommandId: "l1", Step: 100}), "the confirming code is used")
	require.NoError(t, run(&pb.UseTOTPRequest{CommandId: "l2", Step: 101}))
	require.NoError(t, run(&pb.UseTOTPRequest{CommandId: "l2", Step: 101}), "a retry of the same login")
	assert.Equal(t, int64(101), s.LastStep)
	err := run(&pb.UseTOTPRequest{CommandId: "l3", Step: 101})
	assert.True(t, emporium.IsCode(err, emporium.EUNAUTHENTICATED) && hasField(err, "code", emporium.FieldInvalid), "replay: %v", err)
	assert.Error(t, run(&pb.UseTOTPRequest{CommandId: "l4", Step: 100}), "an older code after a newer one")
	require.NoError(t, run(&pb.UseTOTPRequest{CommandId: "l5", Step: 103}))
	assert.Error(t, run(&pb.DisableTOTPRequest{CommandId: "d1", PasswordOk: true, CodeOk: true, CodeStep: 103}),
		"disabling needs a fresh code")
	require.NoError(t, run(&pb.DisableTOTPRequest{CommandId: "d2", PasswordOk: true, CodeOk: true, CodeStep: 104}))
	assert.Error(t, run(&pb.UseTOTPRequest{CommandId: "l6", Step: 200}), "no TOTP once disabled")
}

// TestRecoveryCodesAreSingleUse: a used code fails however it is presented,
// the others keep working, and indexes never shift.
func TestRecoveryCodesAreSingleUse(t *testing.T) {
	hashes := recoveryHashes(10)
	s := given(registeredEv(), &pb.TOTPEnrollmentStarted{CommandId: "b", Secret: secret},
		&pb.TOTPEnabled{CommandId: "c", LastStep: 100, RecoveryCodeHashes: hashes, At: ts(created)})
	use := func(cmdID string, i int32) error {
		events, err := decideAsShell(s, &pb.UseRecoveryCodeRequest{CommandId: cmdID, Index: i}, t0)
		for _, ev := range events {
			Spec.Fold(s, ev)
		}
		return err
	}
	for i := range int32(10) {
		require.NoError(t, use(fmt.Sprintf("u%d", i), i))
		require.NoError(t, use(fmt.Sprintf("u%d", i), i), "a retry")
		assert.Error(t, use(fmt.Sprintf("again%d", i), i), "code %d twice", i)
		assert.Equal(t, int32(9-i), account(s, 0, t0).RecoveryCodesLeft)
		for j := i + 1; j < 10; j++ {
			assert.Equal(t, hashes[j], s.RecoveryCodeHashes[j], "code %d keeps its place", j)
		}
	}
	assert.Equal(t, hashes, recoveryHashes(10), "the event's hashes were not touched")
	assert.Len(t, credentials(s, 0).RecoveryCodeHashes, 10)
}
