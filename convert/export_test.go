package convert

import "regexp/syntax"

// LuceneRegexUnchecked is LuceneRegex without the complexity refusal, so
// that tests can show Lucene rejects what it refuses.
func LuceneRegexUnchecked(src string) (string, error) {
	re, err := syntax.Parse(src, syntax.Perl)
	if err != nil {
		return "", err
	}
	return luceneTranslate(re)
}
