package review

import (
	"embed"
	"fmt"
	"html/template"
	"time"
)

//go:embed templates/*.html
var templateFiles embed.FS

// styleSheet is inlined in every page; the Content-Security-Policy allows
// it by its hash and nothing else.
const styleSheet = `
:root{--fg:#1b1f24;--muted:#5b6470;--line:#d5dae0;--bg:#fff;--head:#f3f5f8;--bad:#b00020;--badbg:#fdecee;--warn:#8a5a00;--warnbg:#fff4d6;--ok:#1d6b32;--okbg:#e7f5ea;--link:#0b57d0}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
a{color:var(--link)}
a:focus-visible,button:focus-visible,input:focus-visible,select:focus-visible,textarea:focus-visible,summary:focus-visible{outline:3px solid #f5a300;outline-offset:2px}
.skip{position:absolute;left:-999px}.skip:focus{left:8px;top:8px;background:#fff;padding:4px 8px;z-index:9}
header.top{display:flex;gap:24px;align-items:center;padding:8px 20px;background:#14213d;color:#fff}
header.top a{color:#fff;text-decoration:none;font-weight:600}
header.top a[aria-current=page]{text-decoration:underline}
header.top .me{margin-left:auto;display:flex;gap:12px;align-items:center}
header.top .tag{color:#14213d;background:#fff;border-color:#fff}
header.top button{background:transparent;color:#fff;border:1px solid #fff;border-radius:4px;padding:2px 10px;cursor:pointer}
.clock{display:flex;gap:8px;padding:8px 20px;background:var(--head);border-bottom:1px solid var(--line);flex-wrap:wrap}
.pill{border-radius:12px;padding:2px 10px;background:#fff;border:1px solid var(--line);font-size:14px}
.pill.bad{background:var(--badbg);border-color:var(--bad);color:var(--bad);font-weight:600}
.pill.warn{background:var(--warnbg);border-color:var(--warn);color:var(--warn)}
main{padding:16px 20px;max-width:1400px}
h1{font-size:22px;margin:4px 0 12px}h2{font-size:17px;margin:24px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{background:var(--head);font-weight:600;font-size:13px;color:var(--muted)}
table.kv th{width:190px;background:transparent;color:var(--muted)}
tr.overdue td{background:var(--badbg)}tr.late td{background:var(--warnbg)}
tr.mismatch td{background:var(--badbg)}
.bad{color:var(--bad);font-weight:600}.warn{color:var(--warn);font-weight:600}.ok{color:var(--ok)}
.muted{color:var(--muted)}.nowrap{white-space:nowrap}.small{font-size:13px}
td.details{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;word-break:break-all;color:var(--muted)}.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px;word-break:break-all}
.tag{white-space:nowrap;display:inline-block;border-radius:4px;padding:0 6px;font-size:12px;font-weight:600;background:var(--head);border:1px solid var(--line)}
.tag.bad{background:var(--badbg);border-color:var(--bad)}.tag.warn{background:var(--warnbg);border-color:var(--warn)}.tag.ok{background:var(--okbg);border-color:var(--ok)}
.msg{padding:8px 12px;border-radius:4px;margin:8px 0}.msg.error{background:var(--badbg);border:1px solid var(--bad)}.msg.done{background:var(--okbg);border:1px solid var(--ok)}
.why{border-left:4px solid var(--bad);background:var(--badbg);padding:8px 12px;margin:8px 0}
.why p{margin:4px 0}
form.filters{display:flex;gap:10px;flex-wrap:wrap;align-items:end;margin:8px 0 12px}
form.filters label{display:flex;flex-direction:column;font-size:13px;color:var(--muted)}
input,select,textarea{font:inherit;padding:4px 6px;border:1px solid #8a939e;border-radius:4px}
textarea{width:100%;min-height:64px}
button{font:inherit;padding:5px 14px;border-radius:4px;border:1px solid #14213d;background:#14213d;color:#fff;cursor:pointer}
button.secondary{background:#fff;color:#14213d}
button.danger{background:var(--bad);border-color:var(--bad)}
.actions{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:14px}
.actions form{border:1px solid var(--line);border-radius:6px;padding:10px 12px;display:flex;flex-direction:column;gap:6px}
.actions h3{margin:0;font-size:15px}
.actions p{margin:0;font-size:13px;color:var(--muted)}
.counts{display:flex;gap:8px;flex-wrap:wrap;margin:4px 0 8px}
.grid2{display:grid;grid-template-columns:1fr 1fr;gap:24px}
@media (max-width:1000px){.grid2{grid-template-columns:1fr}}
.login{max-width:380px;margin:60px auto;display:flex;flex-direction:column;gap:10px}
.login label{display:flex;flex-direction:column;gap:2px}
`

func parsePages() (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"style": func() template.CSS { return template.CSS(styleSheet) },
		"when": func(t time.Time) string {
			if t.IsZero() {
				return "-"
			}
			return t.UTC().Format("2006-01-02 15:04 UTC")
		},
		"whenp": func(t *time.Time) string {
			if t == nil || t.IsZero() {
				return "-"
			}
			return t.UTC().Format("2006-01-02 15:04:05 UTC")
		},
		"span": span,
		"orDash": func(s string) string {
			if s == "" {
				return "-"
			}
			return s
		},
		"deref": func(p *int64) int64 {
			if p == nil {
				return 0
			}
			return *p
		},
		"clock": clockAt,
	}
	layout, err := template.New("layout").Funcs(funcs).ParseFS(templateFiles, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("parsing the layout: %w", err)
	}
	pages := map[string]*template.Template{}
	for _, name := range []string{"login", "queue", "request", "revocations"} {
		t, err := template.Must(layout.Clone()).ParseFS(templateFiles, "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("parsing page %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}
