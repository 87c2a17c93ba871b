// Package config is how every paycrawl process reads its configuration:
// strict YAML (a key that names no field is an error at every depth, with
// its line), durations written as "30s" (a bare number is refused rather
// than read as nanoseconds), secrets from the environment, URL and log
// level checks, and every problem of a configuration reported at once
// (Problems, errors.Join). Each component keeps its own struct, sets its
// defaults once before decoding or in one setDefaults, and has a Validate
// method; the process joins them.
package config
