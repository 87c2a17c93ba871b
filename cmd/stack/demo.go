package main

import (
	"context"
	"fmt"
)

// demo runs the platform end to end (make demo).
func demo(ctx context.Context, args []string) error {
	return fmt.Errorf("demo: not yet")
}
