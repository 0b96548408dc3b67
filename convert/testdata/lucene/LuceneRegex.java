// LuceneRegex checks regular expressions with Lucene's own RegExp parser
// (the one Elasticsearch uses for query_string /.../, regexp queries,
// ES|QL RLIKE and EQL regex), for convert's tests.
//
// Each input line is tab-separated base64 (UTF-8) fields: a regular
// expression, then sample strings. Each output line is "ok\t" and one 0/1
// per sample (whether the expression matches the whole sample), or
// "err\t" and the parser's message. Flags: RegExp.ALL (Elasticsearch's
// default); at most 10000 determinized states (Elasticsearch's default
// max_determinized_states).
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import org.apache.lucene.util.automaton.CharacterRunAutomaton;
import org.apache.lucene.util.automaton.RegExp;

public class LuceneRegex {
	public static void main(String[] args) throws Exception {
		BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
		PrintStream out = new PrintStream(System.out, false, "UTF-8");
		Base64.Decoder dec = Base64.getDecoder();
		String line;
		while ((line = in.readLine()) != null) {
			String[] f = line.split("\t", -1);
			try {
				String re = new String(dec.decode(f[0]), StandardCharsets.UTF_8);
				CharacterRunAutomaton a = new CharacterRunAutomaton(new RegExp(re, RegExp.ALL).toAutomaton(10000));
				StringBuilder sb = new StringBuilder("ok\t");
				for (int i = 1; i < f.length; i++) {
					sb.append(a.run(new String(dec.decode(f[i]), StandardCharsets.UTF_8)) ? '1' : '0');
				}
				out.println(sb);
			} catch (Exception e) {
				out.println("err\t" + String.valueOf(e.getMessage()).replace('\n', ' ').replace('\t', ' '));
			}
			out.flush();
		}
	}
}
