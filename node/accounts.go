package node

import (
	"context"
	"fmt"

	"github.com/emporium-shop/emporium/actors/user"
	"github.com/emporium-shop/emporium/auth"
	"github.com/emporium-shop/emporium/mail"
	"github.com/emporium-shop/emporium/ratelimit"
)

// accounts builds the account service over the node's cluster, stores,
// mailer and keys.
func (n *Node) accounts() (*user.Service, *ratelimit.Limiter, error) {
	keyFile := n.Config.JWTKeyPath()
	keys, err := auth.LoadOrCreateKeyFile(keyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("accounts: signing keys from JWT_KEY_FILE=%s: %w", keyFile, err)
	}
	issuer, err := auth.NewIssuer(auth.IssuerConfig{Keys: keys, Issuer: n.Config.PublicURL, Audience: "emporium"})
	if err != nil {
		return nil, nil, fmt.Errorf("accounts: %w", err)
	}
	mailer, err := n.mailer()
	if err != nil {
		return nil, nil, err
	}
	n.mail = mailer
	limiter := ratelimit.New(n.Redis, "emporium:rl:")
	limiter.Logger = n.Logger
	svc, err := user.NewService(user.ServiceConfig{
		Cluster:   n.Cluster,
		Claims:    n.claims(),
		Tokens:    n.tokens,
		Mailer:    mailer,
		Issuer:    issuer,
		Limiter:   limiter.Counters(),
		PublicURL: n.Config.PublicURL,
		Logger:    n.Logger,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("accounts: %w", err)
	}
	n.onClose("mail in flight", func(context.Context) error { svc.Wait(); return nil })
	return svc, limiter, nil
}

// mailer is SMTP when SMTP_URL is set, else the dev outbox, which logs each
// mail with its links so that `make run` needs no mail server.
func (n *Node) mailer() (mail.Sender, error) {
	if n.Config.SMTPURL == "" {
		n.Logger.Info("no SMTP_URL: mails are logged by the dev outbox")
		return mail.NewOutbox(n.Logger, mail.DefaultOutboxKeep), nil
	}
	smtp, err := mail.NewSMTP(mail.SMTPConfig{URL: n.Config.SMTPURL, From: n.Config.MailFrom, Logger: n.Logger})
	if err != nil {
		return nil, err
	}
	return smtp, nil
}
