//go:build !race

package finance_test

// raceEnabled: the race detector slows signature checks about eightfold.
const raceEnabled = false
