package earnings

import (
	"math/bits"

	"github.com/paycrawl/paycrawl/pkg/money"
)

// Fee is the platform's fee of bps basis points (0 to 10000) on amount:
// amount × bps / 10000 rounded toward zero, so the platform never takes a
// fraction of a micro-unit from a publisher, and a reversal returns
// exactly the fee its earning took when the amounts are equal. It is exact
// for every int64 amount (the product is computed in 128 bits).
func Fee(amount money.Micros, bps int64) money.Micros {
	if amount < 0 {
		return -Fee(-amount, bps)
	}
	hi, lo := bits.Mul64(uint64(amount), uint64(bps))
	q, _ := bits.Div64(hi, lo, 10_000)
	return money.Micros(q)
}

// allocate splits total over weights in proportion, to the micro-unit:
// each share is total × weight / Σweights rounded down, and the micro-units
// left go one each to the largest remainders (the lower index on a tie).
// Weights are non-negative; with no positive weight everything goes to the
// last one. total is at most Σweights (a caller caps it).
func allocate(total money.Micros, weights []money.Micros) []money.Micros {
	out := make([]money.Micros, len(weights))
	if len(weights) == 0 {
		return out
	}
	var sum uint64
	for _, w := range weights {
		sum += uint64(w)
	}
	if sum == 0 {
		out[len(out)-1] = total
		return out
	}
	rems := make([]uint64, len(weights))
	left := total
	for i, w := range weights {
		hi, lo := bits.Mul64(uint64(total), uint64(w))
		q, r := bits.Div64(hi, lo, sum)
		out[i], rems[i] = money.Micros(q), r
		left -= money.Micros(q)
	}
	for left > 0 {
		best := -1
		for i, r := range rems {
			if weights[i] > 0 && (best < 0 || r > rems[best]) {
				best = i
			}
		}
		out[best]++
		rems[best] = 0
		left--
	}
	return out
}
