// Package archtest holds no code: its test checks the import graph against
// the package table of docs/ARCHITECTURE.md.
package archtest
