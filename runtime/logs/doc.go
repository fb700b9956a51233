// Package logs owns container log files on a node: the node agent's
// container runtime copies each container run's stdout and stderr into one
// file per run through a Writer, and `skiff logs` reads them back with Read.
//
// The file format is the CRI log format kubelet writes, one record a line:
//
//	2026-01-02T15:04:05.123456789Z stdout F hello world
//	<RFC3339Nano time, UTC> <stdout|stderr> <F|P> <content>
//
// A line of output longer than MaxLineSize is cut into P (partial) records
// ending with an F (full) record; Read joins them again. Output that ends
// without a newline when the Writer closes is written as an F record.
//
// Files rotate by size: the live file is path, the newest rotated one
// path.1, then path.2 and so on. Nothing is fsynced: a log line lost in a
// power cut is cheaper than wearing out an SD card.
//
// This package does not own where the files live, how long they are kept
// after a container is gone (runtime/gc), or the copying from containerd's
// FIFOs (runtime/containerd calls Stream(...).Write).
package logs
