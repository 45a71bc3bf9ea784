"""The practice's morning report: the routine messages of its previous local day and that day's call summary,
built from the messages and the metrics (`reports.content`), rendered as HTML, text and PDF (`reports.render`),
e-mailed through SMTP_URL (`reports.mail`) once a day at the practice's local time, each send kept in
`report_sends` (`reports.sends`)."""
