// Package sigma parses Sigma documents (detection rules, rule collections,
// correlation rules and filters, specification v2.1) into a syntax tree that
// keeps the line and column of every element, and validates them.
//
// Parsing never stops at the first problem: every problem of a document is
// reported as an *Error carrying file:line:col, and one bad document never
// prevents the other documents of a file, or other files, from loading.
// Turning the syntax tree into something that matches events is the engine
// package's job.
package sigma
