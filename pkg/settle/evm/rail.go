package evm

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/settle"
)

// Name is the rail's name, as in billing profiles.
const Name = "evm"

// Symbol names the token in messages.
const Symbol = "USDC"

// Defaults of Config.
const (
	DefaultConfirmations  = 2
	DefaultConfirmTimeout = 60 * time.Second
	DefaultPollInterval   = 250 * time.Millisecond
	// rebroadcastEvery is how often an unseen transaction is sent again
	// while waiting.
	rebroadcastEvery = 5 * time.Second
)

// Config says which chain, token, treasury and key the rail uses.
type Config struct {
	// Client reaches the chain. Required.
	Client Client
	// Token is the ERC-20 contract (6 decimals). Required.
	Token common.Address
	// Treasury receives the payments. Required.
	Treasury common.Address
	// Key is the settler's private key: its address is the spender the
	// crawlers approve, and it pays the gas. Required.
	Key *ecdsa.PrivateKey
	// Ledger keeps the settler's nonce journal and reads the invoices whose
	// transfers it holds: the settler's *ledger.Ledger. Required: nonces are
	// allocated from the journal and the chain together (see the package
	// documentation).
	Ledger Ledger
	// Confirmations is how many blocks (the including one counts) make a
	// transfer final. 0 means 2.
	Confirmations uint64
	// ConfirmTimeout bounds how long Charge waits for the confirmations;
	// after it the invoice is pending and Status finishes it. 0 means 60s.
	ConfirmTimeout time.Duration
	// PollInterval is the wait between two looks at the chain. 0 means
	// 250ms.
	PollInterval time.Duration
	// Minimum is the smallest transfer; smaller totals are carried over to
	// the next invoice. 0 means none.
	Minimum money.Micros
	// Payouts reads publishers' payouts, whose transfers hold nonces of
	// the journal too (an *earnings.Book); nil keeps every payout's claim
	// (its nonce is skipped, never reused on a guess).
	Payouts PayoutRecords
	// Logger; default discards.
	Logger *slog.Logger
	// Faults is a test hook called at settle.FaultBeforeWriteAhead,
	// FaultBeforeBroadcast, FaultAfterBroadcast and FaultConfirming; nil in
	// production.
	Faults func(point string) error
}

// Rail collects invoices with ERC-20 transferFrom.
type Rail struct {
	cfg  Config
	from common.Address
	log  *slog.Logger

	// mu serializes nonce allocation, write-ahead and broadcast in this
	// process; the nonce journal's atomic claim keeps other processes off
	// the nonces this one allocates.
	mu sync.Mutex

	chainMu sync.Mutex
	chainID *big.Int
	// sender is the nonce journal's name of r.from on chainID, set with
	// it: read it after calling chain.
	sender string
}

var _ settle.Rail = (*Rail)(nil)

// New returns the rail for cfg. It does not contact the chain (see Check).
func New(cfg Config) (*Rail, error) {
	var errs []error
	if cfg.Client == nil {
		errs = append(errs, errors.New("evm: a chain client is required"))
	}
	if cfg.Key == nil {
		errs = append(errs, errors.New("evm: the settler's key is required"))
	}
	if cfg.Ledger == nil {
		errs = append(errs, errors.New("evm: a ledger is required (it keeps the nonce journal)"))
	}
	if cfg.Token == (common.Address{}) {
		errs = append(errs, errors.New("evm: the token address is required"))
	}
	if cfg.Treasury == (common.Address{}) {
		errs = append(errs, errors.New("evm: the treasury address is required"))
	}
	if cfg.Minimum < 0 || cfg.ConfirmTimeout < 0 || cfg.PollInterval < 0 {
		errs = append(errs, errors.New("evm: minimum, confirm timeout and poll interval must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.Confirmations == 0 {
		cfg.Confirmations = DefaultConfirmations
	}
	if cfg.ConfirmTimeout == 0 {
		cfg.ConfirmTimeout = DefaultConfirmTimeout
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	r := &Rail{cfg: cfg, from: crypto.PubkeyToAddress(cfg.Key.PublicKey), log: cfg.Logger}
	if r.log == nil {
		r.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return r, nil
}

// Name returns "evm".
func (r *Rail) Name() string { return Name }

// Address is the settler's address: the spender crawlers approve.
func (r *Rail) Address() common.Address { return r.from }

// Check contacts the chain: it must answer, and the token must have 6
// decimals.
func (r *Rail) Check(ctx context.Context) error {
	if _, err := r.chain(ctx); err != nil {
		return err
	}
	d, err := TokenDecimals(ctx, r.cfg.Client, r.cfg.Token)
	if err != nil {
		return err
	}
	if d != Decimals {
		return fmt.Errorf("evm: token %s has %d decimals; the rail needs %d (micro-units are base units)", r.cfg.Token, d, Decimals)
	}
	return nil
}

// chain returns the chain id, asked once.
func (r *Rail) chain(ctx context.Context) (*big.Int, error) {
	r.chainMu.Lock()
	defer r.chainMu.Unlock()
	if r.chainID == nil {
		id, err := r.cfg.Client.ChainID(ctx)
		if err != nil {
			return nil, fmt.Errorf("evm: chain id: %w", err)
		}
		r.chainID = id
		r.sender = SenderName(id, r.from)
	}
	return r.chainID, nil
}

// Charge collects req.Invoice with one transferFrom(wallet → treasury). If
// this attempt already has a write-ahead record, the recorded transaction is
// reconciled instead (see the package documentation); otherwise balance and
// allowance are checked, the transfer is signed, recorded and broadcast,
// and Charge waits for Config.Confirmations within Config.ConfirmTimeout
// (still unconfirmed: pending, and Status finishes it).
func (r *Rail) Charge(ctx context.Context, req *settle.ChargeRequest) (settle.Outcome, error) {
	inv := req.Invoice
	if inv.Currency != Symbol && inv.Currency != "USD" {
		return failed(fmt.Sprintf("the evm rail settles USD and USDC invoices in %s; invoice %s is in %s", Symbol, inv.ID, inv.Currency), "currency"), nil
	}
	if inv.WriteAhead == req.Attempt && inv.RawTx != "" {
		wa, err := r.decode(inv)
		if err != nil {
			return settle.Outcome{}, err
		}
		r.log.Info("evm: reconciling a recorded transfer", "invoice", inv.ID, "attempt", req.Attempt, "tx", wa.hash, "nonce", wa.nonce)
		return r.await(ctx, inv, wa, r.cfg.ConfirmTimeout, time.Time{})
	}
	// A crash between the nonce claim and the write-ahead record left this
	// attempt's transaction in the journal only: it is the attempt's one
	// transaction, recorded and sent now, whatever the wallet holds today.
	if wa, err := r.adopt(ctx, req); err != nil || wa != nil {
		if err != nil {
			return settle.Outcome{}, err
		}
		return r.await(ctx, inv, wa, r.cfg.ConfirmTimeout, time.Now())
	}
	switch {
	case inv.Total == 0:
		return settle.Outcome{Status: ledger.StatusCarried, Detail: "nothing_to_charge", Reason: "the total is 0: nothing to transfer"}, nil
	case inv.Total < r.cfg.Minimum:
		return settle.Outcome{Status: ledger.StatusCarried, Settlement: ledger.Settlement{CarriedOut: inv.Total}, Detail: "below_minimum",
			Reason: fmt.Sprintf("%s %s is below the minimum transfer of %s: carried over to the next invoice", inv.Total, inv.Currency, r.cfg.Minimum)}, nil
	}
	wallet := common.HexToAddress(req.Payer.Wallet)
	if !common.IsHexAddress(req.Payer.Wallet) || wallet == (common.Address{}) {
		return failed(fmt.Sprintf("account %s has no wallet on the evm rail", inv.Account), "no_wallet"), nil
	}
	amount := BaseUnits(inv.Total)
	if o, err := r.precheck(ctx, wallet, amount); err != nil || o != nil {
		return deref(o), err
	}
	wa, o, err := r.broadcast(ctx, req, wallet, amount)
	if err != nil || o != nil {
		return deref(o), err
	}
	if err := settle.Fault(r.cfg.Faults, settle.FaultAfterBroadcast); err != nil {
		return settle.Outcome{}, err
	}
	return r.await(ctx, inv, wa, r.cfg.ConfirmTimeout, time.Now())
}

// Status looks at a pending invoice's recorded transfer once (broadcasting
// it again if the chain lost it): paid, failed, or still pending.
func (r *Rail) Status(ctx context.Context, inv *ledger.Invoice, _ settle.Payer) (settle.Outcome, error) {
	if inv.RawTx == "" {
		return settle.Outcome{}, fmt.Errorf("evm: invoice %s has no recorded transfer to look up", inv.ID)
	}
	wa, err := r.decode(inv)
	if err != nil {
		return settle.Outcome{}, err
	}
	return r.await(ctx, inv, wa, 0, time.Time{})
}

// precheck returns a failed outcome when the wallet cannot pay amount.
func (r *Rail) precheck(ctx context.Context, wallet common.Address, amount *big.Int) (*settle.Outcome, error) {
	bal, err := BalanceOf(ctx, r.cfg.Client, r.cfg.Token, wallet)
	if err != nil {
		return nil, err
	}
	if bal.Cmp(amount) < 0 {
		o := failed(fmt.Sprintf("balance %s %s < %s %s in wallet %s (token %s): nothing was moved",
			FormatUnits(bal), Symbol, FormatUnits(amount), Symbol, wallet, r.cfg.Token), "insufficient_balance")
		return &o, nil
	}
	allow, err := Allowance(ctx, r.cfg.Client, r.cfg.Token, wallet, r.from)
	if err != nil {
		return nil, err
	}
	if allow.Cmp(amount) < 0 {
		o := failed(fmt.Sprintf("allowance %s %s < %s %s: approve the settler %s on token %s from wallet %s; nothing was moved",
			FormatUnits(allow), Symbol, FormatUnits(amount), Symbol, r.from, r.cfg.Token, wallet), "insufficient_allowance")
		return &o, nil
	}
	return nil, nil
}

// broadcast signs the transfer with the settler's next nonce, claims the
// nonce in the journal, records the transfer (write-ahead) and sends it,
// under r.mu.
func (r *Rail) broadcast(ctx context.Context, req *settle.ChargeRequest, wallet common.Address, amount *big.Int) (*writeAhead, *settle.Outcome, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	u, o, err := r.prepare(ctx, wallet, amount)
	if err != nil || o != nil {
		return nil, o, err
	}
	nonce, err := r.nextNonce(ctx)
	if err != nil {
		return nil, nil, err
	}
	wa, err := r.claim(ctx, req, u, nonce)
	if err != nil {
		return nil, nil, err
	}
	if err := settle.Fault(r.cfg.Faults, settle.FaultBeforeWriteAhead); err != nil {
		return nil, nil, err
	}
	if err := r.recordAndSend(ctx, req, wa); err != nil {
		return nil, nil, err
	}
	return wa, nil, nil
}

// recordAndSend stores wa as the attempt's write-ahead record and sends it.
// A record the invoice refuses leaves wa unsent; its nonce claim stays until
// nextNonce finds the attempt over and releases it.
func (r *Rail) recordAndSend(ctx context.Context, req *settle.ChargeRequest, wa *writeAhead) error {
	raw, err := wa.tx.MarshalBinary()
	if err != nil {
		return err
	}
	err = req.Record(ctx, ledger.Settlement{TxHash: wa.hash.Hex(), RawTx: hexutil.Encode(raw), Nonce: int64(wa.nonce)},
		ledger.Attempt{Reference: wa.hash.Hex(), Amount: req.Invoice.Total, Outcome: "signed"})
	if err != nil {
		if errors.Is(err, ledger.ErrConflict) {
			return fmt.Errorf("evm: invoice %s attempt %d already has a recorded transfer; the next run reconciles it: %w",
				req.Invoice.ID, req.Attempt, err)
		}
		return fmt.Errorf("evm: write-ahead record of %s: %w", req.Invoice.ID, err)
	}
	if err := settle.Fault(r.cfg.Faults, settle.FaultBeforeBroadcast); err != nil {
		return err
	}
	if err := r.send(ctx, wa.tx); err != nil {
		return fmt.Errorf("evm: broadcasting %s of invoice %s (recorded; the next run sends it again): %w", wa.hash, req.Invoice.ID, err)
	}
	r.log.Info("evm: transfer broadcast", "invoice", req.Invoice.ID, "attempt", req.Attempt, "tx", wa.hash,
		"nonce", wa.nonce, "from", wa.wallet, "amount", FormatUnits(wa.amount))
	return nil
}

// unsigned is a transfer built and priced, without its nonce.
type unsigned struct {
	chainID *big.Int
	tx      types.DynamicFeeTx
	wallet  common.Address
	amount  *big.Int
}

// prepare builds transferFrom(wallet, treasury, amount) and prices it. A
// transfer the chain says would revert is a failed outcome (nothing was
// sent).
func (r *Rail) prepare(ctx context.Context, wallet common.Address, amount *big.Int) (*unsigned, *settle.Outcome, error) {
	return r.prepareTransfer(ctx, wallet, r.cfg.Treasury, wallet, amount)
}

// prepareTransfer is prepare of a transferFrom(from, to, amount) signed by
// the settler; wallet is the operator's side of it.
func (r *Rail) prepareTransfer(ctx context.Context, from, to, wallet common.Address, amount *big.Int) (*unsigned, *settle.Outcome, error) {
	chainID, err := r.chain(ctx)
	if err != nil {
		return nil, nil, err
	}
	data, err := TokenABI.Pack("transferFrom", from, to, amount)
	if err != nil {
		return nil, nil, err
	}
	gas, err := r.cfg.Client.EstimateGas(ctx, ethereum.CallMsg{From: r.from, To: &r.cfg.Token, Data: data})
	if err != nil {
		if reverted(err) {
			o := failed(fmt.Sprintf("transferFrom of %s %s from %s would revert: %v; nothing was moved", FormatUnits(amount), Symbol, from, err), "would_revert")
			return nil, &o, nil
		}
		return nil, nil, fmt.Errorf("evm: estimating gas: %w", err)
	}
	tip, err := r.cfg.Client.SuggestGasTipCap(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("evm: gas tip: %w", err)
	}
	head, err := r.cfg.Client.HeaderByNumber(ctx, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("evm: latest header: %w", err)
	}
	if head.BaseFee == nil {
		return nil, nil, errors.New("evm: the chain has no base fee (pre-London): not supported")
	}
	feeCap := new(big.Int).Add(new(big.Int).Mul(head.BaseFee, big.NewInt(2)), tip)
	return &unsigned{chainID: chainID, wallet: wallet, amount: amount,
		tx: types.DynamicFeeTx{ChainID: chainID, GasTipCap: tip, GasFeeCap: feeCap, Gas: gas + gas/4, To: &r.cfg.Token, Data: data}}, nil, nil
}

// sign signs u with nonce.
func (r *Rail) sign(u *unsigned, nonce uint64) (*writeAhead, error) {
	txd := u.tx
	txd.Nonce = nonce
	tx, err := types.SignTx(types.NewTx(&txd), types.LatestSignerForChainID(u.chainID), r.cfg.Key)
	if err != nil {
		return nil, err
	}
	return &writeAhead{tx: tx, hash: tx.Hash(), nonce: nonce, wallet: u.wallet, amount: u.amount}, nil
}

// send broadcasts tx. A transaction the node already has, or whose nonce is
// already taken, is not an error: looking at the chain says what happened.
func (r *Rail) send(ctx context.Context, tx *types.Transaction) error {
	err := r.cfg.Client.SendTransaction(ctx, tx)
	if err == nil {
		return nil
	}
	for _, benign := range []string{"already known", "nonce too low", "replacement transaction underpriced", "already imported"} {
		if containsFold(err.Error(), benign) {
			r.log.Info("evm: broadcast answered", "tx", tx.Hash(), "answer", err)
			return nil
		}
	}
	return err
}

// reverted reports an error of a call or an estimate that is the EVM's
// revert rather than a failure to reach the node.
func reverted(err error) bool {
	var de rpc.DataError
	return errors.As(err, &de) || containsFold(err.Error(), "revert")
}

func failed(msg, detail string) settle.Outcome {
	return settle.Outcome{Status: ledger.StatusFailed, Detail: detail, Reason: msg, Settlement: ledger.Settlement{Error: msg}}
}

func deref(o *settle.Outcome) settle.Outcome {
	if o == nil {
		return settle.Outcome{}
	}
	return *o
}
