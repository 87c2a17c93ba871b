package main

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// Exit statuses of crawlctl, documented in exitCodesText.
const (
	exitError       = 1
	exitUsage       = 2
	exitDifferences = 3
	exitRefused     = 4
	exitPayment     = 5
	exitUnavailable = 6
)

// refusalError is a request the gateway or the key directory did not
// serve; class is the exit status (exitRefused, exitPayment or
// exitUnavailable) and msg says why, in the server's own words.
type refusalError struct {
	class int
	msg   string
}

// Error implements error.
func (e *refusalError) Error() string { return e.msg }

// classOfStatus maps an HTTP error status to an exit status.
func classOfStatus(status int) int {
	switch {
	case status == http.StatusPaymentRequired:
		return exitPayment
	case status >= 500, status == http.StatusRequestTimeout, status == http.StatusTooManyRequests:
		return exitUnavailable
	default:
		return exitRefused
	}
}

// classOfRefusal is classOfStatus, but a crawler-error that says payment
// (PaymentFailed: a daily cap, a billing profile; MissingCrawlerPrice: a
// price to agree) is the payment class whatever the status: Cloudflare's
// codes answer a cap with a 403.
func classOfRefusal(status int, crawlerError string) int {
	switch crawlerError {
	case "PaymentFailed", "MissingCrawlerPrice":
		if status < 500 {
			return exitPayment
		}
	}
	return classOfStatus(status)
}

// exitCode is main's exit status for err (nil is 0).
func exitCode(err error) int {
	var (
		ue     *usageError
		de     *differencesError
		re     *refusalError
		ne     net.Error
		urlErr *url.Error
	)
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		return exitUsage
	case errors.As(err, &de):
		return exitDifferences
	case errors.As(err, &re):
		return re.class
	case errors.As(err, &ne), errors.As(err, &urlErr), errors.Is(err, context.DeadlineExceeded):
		return exitUnavailable
	}
	return exitError
}

// maxMessage caps the refusal message printed from a server's body.
const maxMessage = 400

// refusalMessage is the sentence a refusal's body carries: the JSON
// body's "message" (the gateway's and key directory's refusals) or
// "error" (x402 version 1 PaymentRequired), else the body's text, else
// the status text.
func refusalMessage(status int, body []byte) string {
	var j struct {
		Message string `json:"message"`
		Error   string `json:"error"`
	}
	msg := ""
	if json.Unmarshal(body, &j) == nil {
		msg = j.Message
		if msg == "" {
			msg = j.Error
		}
	} else if utf8.Valid(body) && !strings.HasPrefix(strings.TrimSpace(string(body)), "<") {
		msg = strings.Join(strings.Fields(string(body)), " ")
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	if len(msg) > maxMessage {
		cut := maxMessage
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "…"
	}
	return msg
}
