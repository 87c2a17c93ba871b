package main

import (
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/paycrawl/paycrawl/pkg/registry"
	"github.com/paycrawl/paycrawl/pkg/registry/keydir"
)

// registerResult is what register did. On a failure after sign-up it is
// still printed, so that the token shown once is not lost.
type registerResult struct {
	OperatorID string                  `json:"operator_id"`
	Token      string                  `json:"token,omitempty"`
	Warning    string                  `json:"warning,omitempty"`
	KeyID      string                  `json:"keyid,omitempty"`
	KeyStatus  string                  `json:"key_status,omitempty"`
	AgentURL   string                  `json:"agent_url"`
	Agent      string                  `json:"external_agent,omitempty"`
	Billing    *keydir.BillingResponse `json:"billing,omitempty"`
	// WalletMessage is what --print-wallet-message asked for.
	WalletMessage *walletMessage `json:"wallet_message,omitempty"`
	Error         string         `json:"error,omitempty"`
}

func cmdRegister(e *env, args []string) error {
	fs := e.flags("register")
	keyPath := fs.String("key", "", "private JWK to register (crawlctl keygen)")
	name := fs.String("name", "", "operator name (for a new sign-up)")
	contact := fs.String("contact", "", "contact email (for a new sign-up)")
	rail := fs.String("rail", "", "billing rail: stripe or evm (omit to leave billing unchanged)")
	customer := fs.String("stripe-customer", "", "existing Stripe customer id (rail stripe; default: one is created)")
	wallet := fs.String("wallet", "", "paying wallet address 0x… (rail evm; default: the address of --wallet-key)")
	var wf walletFlags
	fs.StringVar(&wf.keyPath, "wallet-key", "", "file with the wallet's secp256k1 private key in hex: sign the wallet proof here (rail evm)")
	fs.BoolVar(&wf.print, "print-wallet-message", false, "print the message the wallet must sign (personal_sign) instead of setting billing (rail evm)")
	fs.StringVar(&wf.signature, "wallet-signature", "", "the wallet's signature 0x… of the printed message (rail evm, with --wallet-issued-at)")
	fs.StringVar(&wf.issuedAt, "wallet-issued-at", "", "the issued-at time of the message signed for --wallet-signature")
	currency := fs.String("currency", "", "USD (stripe) or USDC (evm); default by rail")
	dailyCap := fs.String("daily-cap", "5.00", "most you can be charged per day")
	maxPrice := fs.String("max-price", "0.05", "default most one page may cost")
	agent := fs.String("agent", "", "also register this external agent URL (a directory you host)")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usagef("register takes no arguments, got %q", pos)
	}
	if e.token == "" && (*name == "" || *contact == "") {
		return usagef("register: give --name and --contact to sign up, or --token for an existing operator")
	}
	walletSet := wf.keyPath != "" || wf.print || wf.signature != "" || wf.issuedAt != ""
	switch {
	case walletSet && *rail != "evm":
		return usagef("register: --wallet-key, --print-wallet-message, --wallet-signature and --wallet-issued-at belong to --rail evm")
	case wf.keyPath != "" && (wf.signature != "" || wf.print):
		return usagef("register: --wallet-key signs the proof itself; leave out --wallet-signature and --print-wallet-message")
	case (wf.signature == "") != (wf.issuedAt == ""):
		return usagef("register: --wallet-signature and --wallet-issued-at go together")
	case wf.print && wf.signature != "":
		return usagef("register: --print-wallet-message prints the message to sign; send the signature in a second run")
	}
	// Everything checkable here is checked before the sign-up: a sign-up
	// cannot be undone, and a half-registered operator helps nobody.
	if e.token == "" {
		if err := registry.CheckContact(strings.TrimSpace(*contact)); err != nil {
			return usagef("register: --contact: %s", strings.TrimPrefix(err.Error(), registry.ErrInvalid.Error()+": "))
		}
	}
	if *rail == "evm" && wf.keyPath != "" {
		key, err := e.readWalletKey(wf.keyPath)
		if err != nil {
			return err
		}
		addr := crypto.PubkeyToAddress(key.PublicKey).Hex()
		if *wallet != "" && !strings.EqualFold(*wallet, addr) {
			return usagef("register: --wallet %s is not the address of --wallet-key (%s)", *wallet, addr)
		}
		*wallet = addr
	}
	if *rail == "evm" && *wallet == "" {
		return usagef("register: --rail evm needs --wallet 0x… (or --wallet-key)")
	}
	if *rail != "" {
		if err := checkBilling(registry.BillingJSON{Rail: *rail, StripeCustomerID: *customer, Wallet: *wallet,
			Currency: *currency, DailyCap: *dailyCap, DefaultMaxPrice: *maxPrice}); err != nil {
			return err
		}
	}
	priv, key, err := e.loadKey(*keyPath)
	if err != nil {
		return err
	}
	res := &registerResult{}
	fail := func(err error) error {
		if res.OperatorID != "" {
			res.Error = err.Error()
			_ = e.printRegister(res)
		}
		return err
	}
	c := e.client()
	if e.token == "" {
		su, err := c.SignUp(e.ctx, *name, *contact)
		if err != nil {
			return err
		}
		res.Token, res.Warning = su.Token, "save this token now: it is shown only once (use it as PAYCRAWL_TOKEN)"
		c.Token, e.token = su.Token, su.Token
	}
	me, err := c.Me(e.ctx)
	if err != nil {
		return fail(err)
	}
	res.OperatorID, res.AgentURL = me.ID, me.AgentURL
	proof, err := signKeyProof(priv, me, time.Now())
	if err != nil {
		return fail(err)
	}
	k, err := c.RegisterKey(e.ctx, proof)
	switch {
	case err == nil:
		res.KeyID, res.KeyStatus = k.KeyID, k.Status
	case keydir.IsCode(err, "duplicate_key"):
		// Registering the same key again is fine if it is ours.
		keys, lerr := c.Keys(e.ctx)
		if lerr != nil {
			return fail(lerr)
		}
		i := slices.IndexFunc(keys, func(k keydir.KeyJSON) bool { return k.KeyID == key.ID })
		if i < 0 {
			return fail(err)
		}
		res.KeyID, res.KeyStatus = keys[i].KeyID, keys[i].Status+" (registered before)"
		if err := renewDirectoryProof(e.ctx, c, keys[i], proof, time.Now()); err != nil {
			return fail(err)
		}
	default:
		return fail(err)
	}
	if *agent != "" {
		if _, err := c.RegisterAgent(e.ctx, *agent); err != nil {
			return fail(err)
		}
		res.Agent = *agent
	}
	switch {
	case wf.print:
		m, err := e.printWalletMessage(c, me.ID, *wallet)
		if err != nil {
			return fail(err)
		}
		res.WalletMessage = m
	case *rail != "":
		req := registry.BillingJSON{Rail: *rail, StripeCustomerID: *customer, Wallet: *wallet,
			Currency: *currency, DailyCap: *dailyCap, DefaultMaxPrice: *maxPrice}
		if *rail == "evm" {
			if req.WalletProof, err = e.walletProof(c, me.ID, *wallet, wf); err != nil {
				return fail(err)
			}
		}
		b, err := c.SetBilling(e.ctx, req)
		if err != nil {
			return fail(err)
		}
		res.Billing = b
	case me.Billing == nil:
		fmt.Fprintln(e.stderr, "crawlctl: warning: no billing profile yet (--rail stripe|evm): gateways refuse to charge you (billing_missing)")
	}
	return e.printRegister(res)
}

// checkBilling checks a billing request as the key directory will (but for
// the wallet proof, which needs the operator's id), as a usage error.
func checkBilling(j registry.BillingJSON) error {
	b, err := j.Parse()
	if err == nil {
		_, err = b.Normalize()
	}
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), registry.ErrInvalidBilling.Error()+": ")
		return usagef("register: billing: %s", msg)
	}
	return nil
}

func (e *env) printRegister(res *registerResult) error {
	return e.emit(res, func(w *tabwriter.Writer) {
		fmt.Fprintf(w, "operator\t%s\n", res.OperatorID)
		if res.Token != "" {
			fmt.Fprintf(w, "token\t%s\n", res.Token)
			fmt.Fprintf(w, "\t^ %s\n", res.Warning)
		}
		if res.KeyID != "" {
			fmt.Fprintf(w, "keyid\t%s (%s)\n", res.KeyID, res.KeyStatus)
		}
		fmt.Fprintf(w, "agent URL\t%s\n", res.AgentURL)
		if res.Agent != "" {
			fmt.Fprintf(w, "external agent\t%s\n", res.Agent)
		}
		if b := res.Billing; b != nil {
			fmt.Fprintf(w, "billing\t%s, %s, daily cap %s, default max price %s\n", b.Billing.Rail, b.Billing.Currency, b.Billing.DailyCap, b.Billing.DefaultMaxPrice)
			if b.Billing.StripeCustomerID != "" {
				fmt.Fprintf(w, "stripe customer\t%s\n", b.Billing.StripeCustomerID)
			}
			if b.Billing.Wallet != "" {
				fmt.Fprintf(w, "wallet\t%s\n", b.Billing.Wallet)
			}
			if p := b.Billing.WalletProof; p != nil {
				fmt.Fprintf(w, "wallet proof\tsigned %s for chain %d and settler %s, verified %s\n", p.IssuedAt, p.ChainID, p.Settler, p.VerifiedAt)
			}
			if b.EVM != nil {
				fmt.Fprintf(w, "approve\tan allowance on token %s to settler %s", b.EVM.TokenAddress, b.EVM.SettlerAddress)
				if b.EVM.ChainID != 0 {
					fmt.Fprintf(w, " (chain %d)", b.EVM.ChainID)
				}
				fmt.Fprintln(w)
			}
		}
		if m := res.WalletMessage; m != nil {
			fmt.Fprintf(w, "wallet message\tsign these %d lines exactly, without a trailing newline:\n", strings.Count(m.Message, "\n")+1)
			w.Flush()
			fmt.Fprintf(e.stdout, "%s\n", m.Message)
			fmt.Fprintf(w, "issued at\t%s (valid until %s)\n", m.IssuedAt, m.Expires)
			fmt.Fprintf(w, "next\t%s\n", m.Next)
		}
		if res.Error != "" {
			fmt.Fprintf(w, "error\t%s\n", res.Error)
		}
	})
}
