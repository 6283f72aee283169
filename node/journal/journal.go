package journal

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/baton-upgrade/baton/rpc/api"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// DefaultMaxRecords is how many records Open keeps; beyond it the oldest
// finished and acknowledged records are pruned.
const DefaultMaxRecords = 1000

// DefaultOpenTimeout bounds the wait for the journal file's lock.
const DefaultOpenTimeout = time.Second

// DefaultMaxLogRecords is how many of the newest attempts keep their hook
// logs; older finished and acknowledged attempts keep their record only.
const DefaultMaxLogRecords = 100

// RecordOutputLimit bounds the output tail a record's HookRun keeps; the
// attempt's logs keep up to api.HookOutputLimit of each run.
const RecordOutputLimit = 4 << 10

// MaxAttemptOutput bounds the output kept in one attempt's logs, all hooks
// together. Beyond it the oldest runs' outputs are cut from their start:
// the latest run, the one that decided the attempt, is kept whole.
const MaxAttemptOutput = 256 << 10

var (
	// ErrNotFound is returned for a key with no record.
	ErrNotFound = errors.New("no such journal record")
	// ErrFinished is returned when writing hook progress to, or finishing,
	// a record that is already finished.
	ErrFinished = errors.New("journal record already finished")
	// ErrNotFinished is returned by MarkAcked for a record still running.
	ErrNotFinished = errors.New("journal record not finished")
	// ErrLocked is returned by Open when another process holds the file.
	ErrLocked = errors.New("journal is locked by another process")
	// ErrWriteFailed marks a write the file system refused (a failed
	// write or fsync: a full or failing disk). What the journal holds
	// after it cannot be trusted: bbolt may have written part of the
	// transaction, and after a failed fsync the page cache may show data
	// the disk does not have. Every later call fails with the same error.
	ErrWriteFailed = errors.New("journal write failed")
	// ErrDamaged marks a journal file found damaged while in use (bbolt
	// panicked reading it). Every later call fails with the same error.
	ErrDamaged = errors.New("journal damaged")
)

var (
	bucketRecords = []byte("records") // Key.encode() -> JSON Record
	bucketOrder   = []byte("order")   // Seq, 8 bytes big-endian -> Key.encode()
	bucketLogs    = []byte("logs")    // Key.encode() -> JSON []HookLog
)

// Options tune OpenWith; zero fields take the defaults.
type Options struct {
	// MaxRecords is how many records to keep (DefaultMaxRecords).
	MaxRecords int
	// OpenTimeout bounds the wait for the file lock (DefaultOpenTimeout).
	OpenTimeout time.Duration
	// MaxLogRecords is how many of the newest attempts keep their hook
	// logs (DefaultMaxLogRecords).
	MaxLogRecords int
	// OnFailure, when set, is told of the first write the disk refused
	// (ErrWriteFailed) or damage found in use (ErrDamaged). The journal
	// is unusable from then on; the owner should stop.
	OnFailure func(error)
	// AfterWrite, when set, is called after every write that succeeded,
	// durable or deferred, with the journal's lock held: a test hook that
	// lets crash tests stop the process between two records.
	AfterWrite func(durable bool)
}

// Journal is an open journal file. Its methods are safe for concurrent use.
type Journal struct {
	db            *bolt.DB
	path          string
	maxRecords    int
	maxLogRecords int
	onFailure     func(error)
	afterWrite    func(durable bool)

	// mu serialises every call; pending are the deferred writes not yet
	// committed, in the order they were made (see Deferred).
	mu      sync.Mutex
	pending []func(*bolt.Tx) error

	failMu sync.Mutex
	failed error
}

// Open opens or creates the journal at path with the default options. When
// another process (another agent on the same data dir) holds the file, Open
// gives up after DefaultOpenTimeout with an error wrapping ErrLocked.
func Open(path string) (*Journal, error) {
	return OpenWith(path, Options{})
}

// OpenWith is Open with explicit options.
func OpenWith(path string, opts Options) (*Journal, error) {
	if opts.MaxRecords <= 0 {
		opts.MaxRecords = DefaultMaxRecords
	}
	if opts.OpenTimeout <= 0 {
		opts.OpenTimeout = DefaultOpenTimeout
	}
	if opts.MaxLogRecords <= 0 {
		opts.MaxLogRecords = DefaultMaxLogRecords
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.OpenTimeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("open journal %s: %w (waited %s; is another agent using this data dir?): %w", path, ErrLocked, opts.OpenTimeout, err)
	}
	if err != nil {
		return nil, fmt.Errorf("open journal %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketRecords, bucketOrder, bucketLogs} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open journal %s: create buckets: %w", path, err)
	}
	return &Journal{db: db, path: path, maxRecords: opts.MaxRecords, maxLogRecords: opts.MaxLogRecords, onFailure: opts.OnFailure, afterWrite: opts.AfterWrite}, nil
}

// maxPending bounds the deferred writes kept in memory: beyond it a
// deferred write commits them all.
const maxPending = 64

// Close makes the deferred writes durable and closes the file. Calls after
// Close fail.
func (j *Journal) Close() error {
	var flushErr error
	j.mu.Lock()
	pending := len(j.pending) > 0
	j.mu.Unlock()
	if pending && j.failure() == nil {
		flushErr = j.update(func(*bolt.Tx) error { return nil })
	}
	if err := j.db.Close(); err != nil {
		return fmt.Errorf("close journal: %w", err)
	}
	if flushErr != nil {
		return fmt.Errorf("close journal: %w", flushErr)
	}
	return nil
}

// Begin journals a new attempt in api.StepRunning and returns it with
// existed=false. If the (txn, attempt) is already journaled, that record is
// returned unchanged with existed=true: a re-sent step is answered from the
// journal, never begun twice.
func (j *Journal) Begin(step Step) (rec Record, existed bool, err error) {
	if err := validateKey(step.Key()); err != nil {
		return Record{}, false, fmt.Errorf("journal begin: %w", err)
	}
	err = j.update(func(tx *bolt.Tx) error {
		records, order := tx.Bucket(bucketRecords), tx.Bucket(bucketOrder)
		key := step.Key().encode()
		if raw := records.Get(key); raw != nil {
			existed = true
			return json.Unmarshal(raw, &rec)
		}
		seq, err := order.NextSequence()
		if err != nil {
			return err
		}
		rec = Record{Step: step, Seq: seq, State: api.StepRunning, Began: now()}
		if err := putRecord(records, rec); err != nil {
			return err
		}
		if err := order.Put(binary.BigEndian.AppendUint64(nil, seq), key); err != nil {
			return err
		}
		return j.prune(tx)
	})
	if err != nil {
		return Record{}, false, fmt.Errorf("journal begin %s: %w", step.Key(), err)
	}
	return rec, existed, nil
}

// HookBegin journals that hook is about to start in the running attempt
// key, durably. Call it before starting the process: if the agent dies
// right after, the record still shows the hook may have run.
func (j *Journal) HookBegin(key Key, hook string) error {
	return j.hookBegin(j.update, key, hook)
}

// HookStarted journals the pid of hook, begun with HookBegin, durably, so
// that a restarted agent can tell whether it still runs.
func (j *Journal) HookStarted(key Key, hook string, pid int) error {
	return j.hookStarted(j.update, key, hook, pid)
}

// HookEnd journals how hook, begun with HookBegin, ended, durably, and keeps
// its output in the attempt's logs in the same transaction.
func (j *Journal) HookEnd(key Key, hook string, out Outcome) error {
	return j.hookEnd(j.update, key, hook, out)
}

// Deferred writes the same records as the journal's methods of the same
// names, but does not commit them: each is checked and kept in memory, seen
// by every read, and made durable by the journal's next durable write (or
// by Close) in the same transaction. A crash before then loses them, and
// only them, in order: what is on disk is always a prefix of what was
// written. Use it for what a resume can do without: the begin, pid and end
// of a hook that may run twice, and the acknowledgement of a notice.
type Deferred struct{ j *Journal }

// Deferred returns the journal's deferred writer.
func (j *Journal) Deferred() Deferred { return Deferred{j: j} }

// HookBegin is Journal.HookBegin, deferred.
func (d Deferred) HookBegin(key Key, hook string) error {
	return d.j.hookBegin(d.j.deferWrite, key, hook)
}

// HookStarted is Journal.HookStarted, deferred.
func (d Deferred) HookStarted(key Key, hook string, pid int) error {
	return d.j.hookStarted(d.j.deferWrite, key, hook, pid)
}

// HookEnd is Journal.HookEnd, deferred.
func (d Deferred) HookEnd(key Key, hook string, out Outcome) error {
	return d.j.hookEnd(d.j.deferWrite, key, hook, out)
}

// MarkAcked is Journal.MarkAcked, deferred.
func (d Deferred) MarkAcked(key Key) error {
	return d.j.markAcked(d.j.deferWrite, key)
}

// writer is how a change reaches the file: update (now, fsync'd) or
// deferWrite (with the next update). A deferred change may be applied more
// than once (checked, read, committed), so it must compute nothing that
// differs between runs, such as the time: that is taken before.
type writer func(func(*bolt.Tx) error) error

func (j *Journal) hookBegin(write writer, key Key, hook string) error {
	began := now()
	return j.updateRunning(write, key, "hook begin "+hook, func(_ *bolt.Tx, rec *Record) error {
		run := HookRun{Name: hook, Began: began}
		if i := rec.hookIndex(hook); i >= 0 {
			run.Runs = rec.Hooks[i].Runs + 1
			rec.Hooks[i] = run
			return nil
		}
		run.Runs = 1
		rec.Hooks = append(rec.Hooks, run)
		return nil
	})
}

func (j *Journal) hookStarted(write writer, key Key, hook string, pid int) error {
	return j.updateRunning(write, key, "hook started "+hook, func(_ *bolt.Tx, rec *Record) error {
		i, err := openHook(rec, hook)
		if err != nil {
			return err
		}
		rec.Hooks[i].PID = pid
		return nil
	})
}

func (j *Journal) hookEnd(write writer, key Key, hook string, out Outcome) error {
	ended := now()
	return j.updateRunning(write, key, "hook end "+hook, func(tx *bolt.Tx, rec *Record) error {
		i, err := openHook(rec, hook)
		if err != nil {
			return err
		}
		h := &rec.Hooks[i]
		h.Ended = ended
		h.ExitCode = out.ExitCode
		h.Output = tailOf(out.Output, RecordOutputLimit)
		h.Error = out.Error
		h.Interrupted = out.Interrupted
		return appendLog(tx.Bucket(bucketLogs), key, HookLog{Hook: hook, Runs: h.Runs, Began: h.Began, Ended: h.Ended,
			ExitCode: out.ExitCode, Output: out.Output, Truncated: out.Truncated})
	})
}

// RequestCancel journals that the leader asked the attempt key to stop,
// and why, and returns the record. The first reason stays: a repeated
// request changes nothing. A finished attempt is returned as it is; an
// unknown one is an error wrapping ErrNotFound.
func (j *Journal) RequestCancel(key Key, reason string) (Record, error) {
	var rec Record
	err := j.update(func(tx *bolt.Tx) error {
		records := tx.Bucket(bucketRecords)
		var err error
		if rec, err = getRecord(records, key); err != nil {
			return err
		}
		if rec.State != api.StepRunning || rec.CancelReason != "" {
			return nil
		}
		rec.CancelReason = reason
		return putRecord(records, rec)
	})
	if err != nil {
		return Record{}, fmt.Errorf("journal cancel %s: %w", key, err)
	}
	return rec, nil
}

// Finish moves the running attempt key to state (api.StepDone or api.StepFailed)
// with the version the node now runs and, when failed, why. A record is
// finished once: finishing it again returns ErrFinished.
func (j *Journal) Finish(key Key, state api.StepState, version, errText string) error {
	if !finished(state) {
		return fmt.Errorf("journal finish %s: %q is not a final state", key, state)
	}
	at := now()
	return j.updateRunning(j.update, key, "finish", func(_ *bolt.Tx, rec *Record) error {
		rec.State = state
		rec.Version = version
		rec.Error = errText
		rec.Finished = at
		return nil
	})
}

// MarkAcked journals, durably, that the leader acknowledged the completion
// notice of the finished attempt key. Marking twice is harmless.
func (j *Journal) MarkAcked(key Key) error {
	return j.markAcked(j.update, key)
}

func (j *Journal) markAcked(write writer, key Key) error {
	err := write(func(tx *bolt.Tx) error {
		records := tx.Bucket(bucketRecords)
		rec, err := getRecord(records, key)
		if err != nil {
			return err
		}
		if !finished(rec.State) {
			return ErrNotFinished
		}
		if rec.Acked {
			return nil
		}
		rec.Acked = true
		if err := putRecord(records, rec); err != nil {
			return err
		}
		return j.prune(tx)
	})
	if err != nil {
		return fmt.Errorf("journal mark acked %s: %w", key, err)
	}
	return nil
}

// Get returns the record of key, or an error wrapping ErrNotFound.
func (j *Journal) Get(key Key) (Record, error) {
	var rec Record
	err := j.view(func(tx *bolt.Tx) error {
		var err error
		rec, err = getRecord(tx.Bucket(bucketRecords), key)
		return err
	})
	if err != nil {
		return Record{}, fmt.Errorf("journal get %s: %w", key, err)
	}
	return rec, nil
}

// Logs returns the hook logs of the attempt key, one per hook in the order
// first begun: the latest run of each that ended. A hook whose run has not
// ended (it runs, or the agent died while it ran) has no entry yet, and an
// attempt whose logs were pruned (see Options.MaxLogRecords) has none.
func (j *Journal) Logs(key Key) ([]HookLog, error) {
	var logs []HookLog
	err := j.view(func(tx *bolt.Tx) error {
		var err error
		logs, err = getLogs(tx.Bucket(bucketLogs), key)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("journal logs %s: %w", key, err)
	}
	return logs, nil
}

// Attempts returns the records of every attempt of transaction txnID this
// journal holds, in attempt order.
func (j *Journal) Attempts(txnID string) ([]Record, error) {
	var out []Record
	prefix := append([]byte(txnID), 0)
	err := j.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketRecords).Cursor()
		for k, raw := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, raw = c.Next() {
			rec, err := decodeRecord(raw)
			if err != nil {
				return err
			}
			out = append(out, rec)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("journal attempts of %s: %w", txnID, err)
	}
	return out, nil
}

// Unfinished returns the records still running, oldest first: the attempts
// a restarted agent must resume.
func (j *Journal) Unfinished() ([]Record, error) {
	return j.filter("unfinished", func(r Record) bool { return r.State == api.StepRunning })
}

// Unacked returns the finished records whose completion notice the leader
// has not acknowledged, oldest first: the notices to (re)send.
func (j *Journal) Unacked() ([]Record, error) {
	return j.filter("unacked", func(r Record) bool { return finished(r.State) && !r.Acked })
}

// Records returns every record, oldest first.
func (j *Journal) Records() ([]Record, error) {
	return j.filter("records", func(Record) bool { return true })
}

func (j *Journal) filter(what string, keep func(Record) bool) ([]Record, error) {
	var out []Record
	err := j.view(func(tx *bolt.Tx) error {
		records := tx.Bucket(bucketRecords)
		return tx.Bucket(bucketOrder).ForEach(func(_, key []byte) error {
			rec, err := decodeRecord(records.Get(key))
			if err != nil {
				return err
			}
			if keep(rec) {
				out = append(out, rec)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("journal %s: %w", what, err)
	}
	return out, nil
}

// updateRunning applies change to the running record of key through write.
func (j *Journal) updateRunning(write writer, key Key, what string, change func(*bolt.Tx, *Record) error) error {
	err := write(func(tx *bolt.Tx) error {
		records := tx.Bucket(bucketRecords)
		rec, err := getRecord(records, key)
		if err != nil {
			return err
		}
		if rec.State != api.StepRunning {
			return fmt.Errorf("%w (%s)", ErrFinished, rec.State)
		}
		if err := change(tx, &rec); err != nil {
			return err
		}
		return putRecord(records, rec)
	})
	if err != nil {
		return fmt.Errorf("journal %s %s: %w", what, key, err)
	}
	return nil
}

// prune deletes the oldest finished and acknowledged records while there
// are more than maxRecords, with their logs, and the logs of finished and
// acknowledged records beyond the newest maxLogRecords. Running or
// unacknowledged records are never pruned, whatever their age: they are
// still needed.
func (j *Journal) prune(tx *bolt.Tx) error {
	if err := j.pruneLogs(tx); err != nil {
		return err
	}
	records, order, logs := tx.Bucket(bucketRecords), tx.Bucket(bucketOrder), tx.Bucket(bucketLogs)
	// Count with a cursor: Bucket.Stats reads committed pages only and would
	// miss this transaction's own writes.
	count := 0
	c := order.Cursor()
	for seq, _ := c.First(); seq != nil; seq, _ = c.Next() {
		count++
	}
	excess := count - j.maxRecords
	if excess <= 0 {
		return nil
	}
	var seqs, keys [][]byte
	for seq, key := c.First(); seq != nil && len(keys) < excess; seq, key = c.Next() {
		rec, err := decodeRecord(records.Get(key))
		if err != nil {
			return err
		}
		if finished(rec.State) && rec.Acked {
			seqs = append(seqs, seq)
			keys = append(keys, key)
		}
	}
	// Deleting after the scan: deleting under a bbolt cursor can skip keys.
	for i := range keys {
		if err := records.Delete(keys[i]); err != nil {
			return err
		}
		if err := logs.Delete(keys[i]); err != nil {
			return err
		}
		if err := order.Delete(seqs[i]); err != nil {
			return err
		}
	}
	return nil
}

// pruneLogs deletes the logs of finished and acknowledged records older than
// the newest maxLogRecords. It decodes only records that still have logs.
func (j *Journal) pruneLogs(tx *bolt.Tx) error {
	records, order, logs := tx.Bucket(bucketRecords), tx.Bucket(bucketOrder), tx.Bucket(bucketLogs)
	var drop [][]byte
	seen := 0
	c := order.Cursor()
	for seq, key := c.Last(); seq != nil; seq, key = c.Prev() {
		if seen++; seen <= j.maxLogRecords || logs.Get(key) == nil {
			continue
		}
		rec, err := decodeRecord(records.Get(key))
		if err != nil {
			return err
		}
		if finished(rec.State) && rec.Acked {
			drop = append(drop, key)
		}
	}
	for _, key := range drop {
		if err := logs.Delete(key); err != nil {
			return err
		}
	}
	return nil
}

// appendLog records l as the latest run of its hook in the logs of key,
// replacing the hook's earlier run, then trims the oldest runs' outputs
// until the attempt keeps at most MaxAttemptOutput bytes.
func appendLog(logs *bolt.Bucket, key Key, l HookLog) error {
	all, err := getLogs(logs, key)
	if err != nil {
		return err
	}
	replaced := false
	for i := range all {
		if all[i].Hook == l.Hook {
			all[i], replaced = l, true
		}
	}
	if !replaced {
		all = append(all, l)
	}
	total := 0
	for _, h := range all {
		total += len(h.Output)
	}
	for i := range all {
		if total <= MaxAttemptOutput {
			break
		}
		if all[i].Hook == l.Hook || all[i].Output == "" {
			continue
		}
		keep := max(0, len(all[i].Output)-(total-MaxAttemptOutput))
		total -= len(all[i].Output) - keep
		all[i].Output, all[i].Truncated = tailOf(all[i].Output, keep), true
	}
	raw, err := json.Marshal(all)
	if err != nil {
		return fmt.Errorf("encode logs: %w", err)
	}
	return logs.Put(key.encode(), raw)
}

func getLogs(logs *bolt.Bucket, key Key) ([]HookLog, error) {
	raw := logs.Get(key.encode())
	if raw == nil {
		return nil, nil
	}
	var out []HookLog
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("decode logs: %w", err)
	}
	return out, nil
}

// tailOf returns the last limit bytes of s, starting at a character
// boundary.
func tailOf(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	s = s[len(s)-limit:]
	for len(s) > 0 && !utf8.RuneStart(s[0]) {
		s = s[1:]
	}
	return s
}

// openHook finds hook's run, which must have begun and not yet ended.
func openHook(rec *Record, hook string) (int, error) {
	i := rec.hookIndex(hook)
	if i < 0 {
		return -1, fmt.Errorf("hook %s was never begun", hook)
	}
	if rec.Hooks[i].HasEnded() {
		return -1, fmt.Errorf("hook %s already ended", hook)
	}
	return i, nil
}

func validateKey(k Key) error {
	if k.TxnID == "" {
		return errors.New("empty transaction id")
	}
	if strings.IndexByte(k.TxnID, 0) >= 0 {
		return fmt.Errorf("transaction id %q contains NUL", k.TxnID)
	}
	return nil
}

func getRecord(records *bolt.Bucket, key Key) (Record, error) {
	raw := records.Get(key.encode())
	if raw == nil {
		return Record{}, ErrNotFound
	}
	return decodeRecord(raw)
}

func decodeRecord(raw []byte) (Record, error) {
	var rec Record
	if err := json.Unmarshal(raw, &rec); err != nil {
		return Record{}, fmt.Errorf("decode record: %w", err)
	}
	return rec, nil
}

func putRecord(records *bolt.Bucket, rec Record) error {
	raw, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode record: %w", err)
	}
	return records.Put(rec.Key().encode(), raw)
}

// now is the journal's clock; UTC so records read the same anywhere.
func now() time.Time {
	return time.Now().UTC()
}
