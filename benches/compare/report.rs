//! Result tables: one per scenario (or per connection count), rows per server,
//! medians over rounds, ratio columns against the baselines.

/// A column of figures.
#[derive(Clone, Copy, Debug)]
pub struct Column {
    /// Heading, also how goals refer to it.
    pub name: &'static str,
    /// Decimals shown.
    pub decimals: usize,
    /// How rounds combine into the figure shown.
    pub combine: Combine,
}

/// How a column's rounds combine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Combine {
    /// The median of the rounds.
    Median,
    /// A per-operation figure pooled over the rounds: the mean weighted by the
    /// named (hidden) column of operation counts, that is Σ total / Σ operations.
    /// Used for CPU per operation, whose user/system split is tick-sampled: pooling
    /// every round's samples is steadier than the median of three small ones.
    PooledBy(&'static str),
    /// Not shown: only a weight for a pooled column.
    Hidden,
}

/// Column spec shorthand: name, decimals, how rounds combine.
pub type Spec = (&'static str, usize, Combine);

/// A ratio column: this row's `column` over the baseline row's.
#[derive(Clone, Copy, Debug)]
pub struct Ratio {
    /// The column compared.
    pub column: &'static str,
    /// The baseline server's name.
    pub baseline: &'static str,
}

/// One server's figures over the rounds.
#[derive(Clone, Debug)]
pub struct Row {
    /// Server (or splitter) name.
    pub name: &'static str,
    /// Per round, one value per column.
    pub rounds: Vec<Vec<f64>>,
    /// The first failure, if any round failed.
    pub error: Option<String>,
}

/// A scenario's results.
#[derive(Clone, Debug)]
pub struct Table {
    /// Short id goals refer to (`pingpong-100`).
    pub id: String,
    /// Heading.
    pub title: String,
    /// Heading of the first column: what the rows are.
    pub subject: &'static str,
    /// Figure columns.
    pub columns: Vec<Column>,
    /// Ratio columns after them.
    pub ratios: Vec<Ratio>,
    /// Rows in the order servers first reported.
    pub rows: Vec<Row>,
    /// Lines printed under the table.
    pub notes: Vec<String>,
}

impl Table {
    /// An empty table.
    pub fn new(id: impl Into<String>, title: impl Into<String>, columns: &[Spec]) -> Self {
        Table {
            id: id.into(),
            title: title.into(),
            subject: "server",
            columns: columns
                .iter()
                .map(|&(name, decimals, combine)| Column {
                    name,
                    decimals,
                    combine,
                })
                .collect(),
            ratios: Vec::new(),
            rows: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Adds a ratio column.
    pub fn ratio(mut self, column: &'static str, baseline: &'static str) -> Self {
        self.ratios.push(Ratio { column, baseline });
        self
    }

    /// Records one round of `name`: a value per column, or why it failed.
    pub fn record(&mut self, name: &'static str, round: Result<Vec<f64>, String>) {
        let i = match self.rows.iter().position(|r| r.name == name) {
            Some(i) => i,
            None => {
                self.rows.push(Row {
                    name,
                    rounds: Vec::new(),
                    error: None,
                });
                self.rows.len() - 1
            }
        };
        let row = &mut self.rows[i];
        match round {
            Ok(values) => {
                debug_assert_eq!(values.len(), self.columns.len());
                row.rounds.push(values);
            }
            Err(e) => {
                row.error.get_or_insert(e);
            }
        }
    }

    /// Whether any row failed.
    pub fn failed(&self) -> bool {
        self.rows.iter().any(|r| r.error.is_some())
    }

    /// `name`'s figure in `column` over the rounds, if that row ran without failing
    /// and the figure was measured (a round's NaN means not measured).
    pub fn value(&self, name: &str, column: &str) -> Option<f64> {
        self.figure(name, column).filter(|v| !v.is_nan())
    }

    /// Whether `name` has a row that ran without failing.
    pub fn ran(&self, name: &str) -> bool {
        let row = self.rows.iter().find(|r| r.name == name);
        row.is_some_and(|r| r.error.is_none() && !r.rounds.is_empty())
    }

    fn figure(&self, name: &str, column: &str) -> Option<f64> {
        let index = |column: &str| self.columns.iter().position(|col| col.name == column);
        let c = index(column)?;
        let row = self.rows.iter().find(|r| r.name == name)?;
        if row.error.is_some() || row.rounds.is_empty() {
            return None;
        }
        match self.columns[c].combine {
            Combine::PooledBy(weight) => {
                let w = index(weight)?;
                let (sum, weights) = row
                    .rounds
                    .iter()
                    .fold((0.0, 0.0), |(s, n), v| (s + v[c] * v[w], n + v[w]));
                Some(sum / weights)
            }
            Combine::Median | Combine::Hidden => median(row.rounds.iter().map(|values| values[c])),
        }
    }

    /// The decimals `column` is shown with.
    pub fn decimals(&self, column: &str) -> usize {
        self.columns
            .iter()
            .find(|c| c.name == column)
            .map_or(2, |c| c.decimals)
    }

    /// How many recorded rounds have `column` above `limit`, and how many rounds
    /// were recorded in all.
    pub fn rounds_above(&self, column: &str, limit: f64) -> (usize, usize) {
        let Some(c) = self.columns.iter().position(|col| col.name == column) else {
            return (0, 0);
        };
        let rounds = self.rows.iter().flat_map(|r| &r.rounds);
        let above = rounds.clone().filter(|values| values[c] > limit).count();
        (above, rounds.count())
    }

    fn shown(&self) -> impl Iterator<Item = &Column> {
        self.columns.iter().filter(|c| c.combine != Combine::Hidden)
    }

    /// Prints the table to stdout.
    pub fn print(&self) {
        println!();
        println!("{} [{}]", self.title, self.id);
        let mut headings: Vec<String> = vec![self.subject.into()];
        headings.extend(self.shown().map(|c| c.name.to_string()));
        headings.extend(
            self.ratios
                .iter()
                .map(|r| format!("{} vs {}", r.column, r.baseline)),
        );
        let mut lines: Vec<Vec<String>> = Vec::new();
        for row in &self.rows {
            let mut cells = vec![row.name.to_string()];
            if let Some(e) = &row.error {
                cells.push(format!("FAILED: {e}"));
                lines.push(cells);
                continue;
            }
            for col in self.shown() {
                cells.push(number(self.value(row.name, col.name), col.decimals));
            }
            for r in &self.ratios {
                let ratio = self
                    .value(row.name, r.column)
                    .zip(self.value(r.baseline, r.column))
                    .map(|(v, b)| v / b);
                cells.push(match ratio {
                    Some(x) if x.is_finite() => format!("{x:.2}x"),
                    _ => "-".into(),
                });
            }
            lines.push(cells);
        }
        let mut widths: Vec<usize> = headings.iter().map(|h| h.chars().count()).collect();
        for cells in lines.iter().filter(|c| c.len() == headings.len()) {
            for (w, cell) in widths.iter_mut().zip(cells) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let render = |cells: &[String]| {
            let mut out = format!("  {:<w$}", cells[0], w = widths[0]);
            for (cell, w) in cells.iter().zip(&widths).skip(1) {
                out.push_str(&format!("  {cell:>w$}"));
            }
            out
        };
        println!("{}", render(&headings));
        for cells in &lines {
            if cells.len() == headings.len() {
                println!("{}", render(cells));
            } else {
                println!("  {:<w$}  {}", cells[0], cells[1], w = widths[0]);
            }
        }
        for note in &self.notes {
            println!("  note: {note}");
        }
    }
}

/// The median of some values (`None` for none).
pub fn median(values: impl Iterator<Item = f64>) -> Option<f64> {
    let mut v: Vec<f64> = values.collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    })
}

/// A figure with `decimals` decimals, thousands grouped, `-` when missing.
pub fn number(value: Option<f64>, decimals: usize) -> String {
    let Some(v) = value.filter(|v| v.is_finite()) else {
        return "-".into();
    };
    let text = format!("{:.*}", decimals, v.abs());
    let (int, frac) = text.split_at(text.find('.').unwrap_or(text.len()));
    let mut grouped = String::new();
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    let sign = if v < 0.0 && text.bytes().any(|b| b.is_ascii_digit() && b != b'0') {
        "-"
    } else {
        ""
    };
    format!("{sign}{grouped}{frac}")
}
