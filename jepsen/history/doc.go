// Package history records what happened during a chaos run: every client
// operation with its invocation and completion (ok, fail, or info when its
// outcome is unknown), every command the cluster committed as the agents'
// event streams told it, and every fault. It writes them as JSON lines as
// they happen, so a run cut short still leaves its history.
//
// It decides nothing: the checkers judge the history.
package history
