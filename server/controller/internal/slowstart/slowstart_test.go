package slowstart

import (
	"errors"
	"sync/atomic"
	"testing"
)

func TestRun(t *testing.T) {
	for _, tc := range []struct {
		name      string
		count     int
		failFrom  int // calls numbered from 1; 0: never fail
		wantCalls int
		wantOK    int
	}{
		{"all succeed", 10, 0, 10, 10},
		{"first fails", 10, 1, 1, 0},
		{"third fails", 10, 3, 3, 2},    // batches 1, 2: the second batch has a failure
		{"eighth fails", 100, 8, 15, 7}, // batches 1, 2, 4, 8: stop after the 8
		{"never more than asked", 5, 0, 5, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			// Within a batch calls run in parallel; fail by number so the
			// count of failures is fixed.
			ok, err := Run(tc.count, 1, func() error {
				if n := int(calls.Add(1)); tc.failFrom > 0 && n >= tc.failFrom {
					return errors.New("boom")
				}
				return nil
			})
			if got := int(calls.Load()); got != tc.wantCalls {
				t.Errorf("calls = %d, want %d", got, tc.wantCalls)
			}
			if tc.failFrom == 0 && err != nil {
				t.Errorf("err = %v, want nil", err)
			}
			if tc.failFrom > 0 && err == nil {
				t.Error("err = nil, want the failure")
			}
			if tc.failFrom == 0 && ok != tc.wantOK {
				t.Errorf("successes = %d, want %d", ok, tc.wantOK)
			}
			if tc.failFrom > 0 && ok > tc.wantOK {
				t.Errorf("successes = %d, want at most %d", ok, tc.wantOK)
			}
		})
	}
}
