package payments

// Test tokens (DESIGN §8): the payment methods a client sends to the
// sandbox provider to choose an outcome. The first three are also Stripe's
// own test tokens, so the same checkout works against Stripe's test mode.
const (
	// TokenVisa authorizes.
	TokenVisa = "tok_visa"
	// TokenDeclined is declined with DeclinePaymentDeclined.
	TokenDeclined = "tok_chargeDeclined"
	// TokenInsufficientFunds is declined with DeclineInsufficientFunds.
	TokenInsufficientFunds = "tok_chargeDeclinedInsufficientFunds"
	// TokenTimeout authorizes, but the first answer is lost: the call
	// fails with EUNAVAILABLE (outcome unknown) and a retry with the same
	// key answers the authorization.
	TokenTimeout = "tok_timeout"
	// TokenRequiresApproval waits for the buyer's approval
	// (StatusRequiresApproval with an ApprovalURL), as PayPal does; Confirm
	// after the buyer came back authorizes it.
	TokenRequiresApproval = "tok_requiresApproval"
)
