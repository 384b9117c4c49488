//! What the doctor reports: findings with evidence, reason, source and fix.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// Likely to cost accuracy.
    Low,
    /// Likely to cost a lot of accuracy or stability.
    Medium,
    /// Explains broken or erratic training.
    High,
}

/// One diagnosis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable identifier (`batch-one-adam`, `oversized-head`, ...).
    pub id: String,
    /// Severity.
    pub severity: Severity,
    /// One line.
    pub title: String,
    /// What was measured, with the numbers.
    pub measured: String,
    /// Why it matters, naming the rule's source.
    pub why: String,
    /// The concrete change that fixes it.
    pub fix: String,
    /// Measured effect of the fix, filled by verification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified: Option<String>,
}

impl Finding {
    /// A finding; `measured`, `why` and `fix` as given.
    pub fn new(id: &str, severity: Severity, title: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            severity,
            title: title.into(),
            measured: String::new(),
            why: String::new(),
            fix: String::new(),
            verified: None,
        }
    }

    /// Sets what was measured.
    pub fn measured(mut self, text: impl Into<String>) -> Self {
        self.measured = text.into();
        self
    }

    /// Sets why it matters.
    pub fn why(mut self, text: impl Into<String>) -> Self {
        self.why = text.into();
        self
    }

    /// Sets the fix.
    pub fn fix(mut self, text: impl Into<String>) -> Self {
        self.fix = text.into();
        self
    }
}

/// All findings of one examination, most severe first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Diagnosis {
    /// The findings.
    pub findings: Vec<Finding>,
}

impl Diagnosis {
    /// Collects and ranks findings (stable within a severity).
    pub fn new(mut findings: Vec<Finding>) -> Self {
        findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
        Self { findings }
    }

    /// The finding with `id`, if raised.
    pub fn get(&self, id: &str) -> Option<&Finding> {
        self.findings.iter().find(|f| f.id == id)
    }

    /// The most severe level raised.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Markdown, one section per finding.
    pub fn to_markdown(&self) -> String {
        let mut out = String::from("# kymo doctor\n\n");
        if self.findings.is_empty() {
            out.push_str("No findings.\n");
        }
        for f in &self.findings {
            out.push_str(&format!(
                "## [{:?}] {} (`{}`)\n\n- **Measured:** {}\n- **Why:** {}\n- **Fix:** {}\n",
                f.severity, f.title, f.id, f.measured, f.why, f.fix
            ));
            if let Some(v) = &f.verified {
                out.push_str(&format!("- **Verified:** {v}\n"));
            }
            out.push('\n');
        }
        out
    }
}

impl fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.findings.is_empty() {
            return writeln!(f, "No findings.");
        }
        for (i, x) in self.findings.iter().enumerate() {
            let label = match x.severity {
                Severity::High => "HIGH  ",
                Severity::Medium => "MEDIUM",
                Severity::Low => "LOW   ",
                Severity::Info => "INFO  ",
            };
            writeln!(f, "{:>2}. {label} {}  [{}]", i + 1, x.title, x.id)?;
            writeln!(f, "    measured: {}", x.measured)?;
            writeln!(f, "    why:      {}", x.why)?;
            writeln!(f, "    fix:      {}", x.fix)?;
            if let Some(v) = &x.verified {
                writeln!(f, "    verified: {v}")?;
            }
        }
        Ok(())
    }
}
