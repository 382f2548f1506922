//! What the harness reads from the kernel: file-descriptor limits, a thread's CPU
//! time and a process's resident memory, all from `/proc` or through `rustix`.

use std::io;

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Raises the soft `RLIMIT_NOFILE` to the hard limit when it is lower, and returns
/// the soft limit now in force (`None`: unlimited).
pub fn raise_nofile_limit() -> Option<u64> {
    let limit = getrlimit(Resource::Nofile);
    // An unlimited hard limit cannot be the soft one for open files (the kernel
    // caps it at fs.nr_open), so aim at a generous finite value instead.
    let target = limit.maximum.unwrap_or(1 << 20);
    if limit.current.is_some_and(|soft| soft < target) {
        let raised = Rlimit {
            current: Some(target),
            maximum: limit.maximum,
        };
        // Failing here is harmless: the scenarios check the limit they got.
        let _ = setrlimit(Resource::Nofile, raised);
    }
    getrlimit(Resource::Nofile).current
}

/// Clock ticks per second, the unit of `utime` and `stime` in `/proc/…/stat`
/// (`getconf CLK_TCK`; from the kernel's auxiliary vector, 100 on Linux).
pub fn clock_ticks_per_second() -> u64 {
    rustix::param::clock_ticks_per_second()
}

/// One thread of one process, to sample its CPU time from any thread or process.
#[derive(Clone, Copy, Debug)]
pub struct ThreadRef {
    /// The process id.
    pub pid: u32,
    /// The thread id (what `gettid` returns).
    pub tid: i32,
}

/// A thread's CPU time so far.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuSample {
    /// User time in clock ticks.
    pub user_ticks: u64,
    /// System time in clock ticks.
    pub sys_ticks: u64,
    /// Total time on CPU in nanoseconds, from `schedstat`, when the kernel has it.
    pub runtime_ns: Option<u64>,
}

impl ThreadRef {
    /// The calling thread.
    pub fn current() -> Self {
        ThreadRef {
            pid: std::process::id(),
            tid: rustix::thread::gettid().as_raw_nonzero().get(),
        }
    }

    /// Reads the thread's CPU time so far.
    pub fn cpu(&self) -> io::Result<CpuSample> {
        let dir = format!("/proc/{}/task/{}", self.pid, self.tid);
        let stat = std::fs::read_to_string(format!("{dir}/stat"))?;
        // Fields after the command name, which is in parentheses and may hold spaces:
        // the first is field 3 (state); utime and stime are fields 14 and 15.
        let after_name = stat
            .rfind(')')
            .map(|i| &stat[i + 1..])
            .ok_or_else(|| bad_data("no ')' in stat"))?;
        let mut fields = after_name.split_whitespace().skip(11);
        let mut tick_field = || -> io::Result<u64> {
            fields
                .next()
                .and_then(|f| f.parse().ok())
                .ok_or_else(|| bad_data("short stat"))
        };
        let user_ticks = tick_field()?;
        let sys_ticks = tick_field()?;
        let runtime_ns = std::fs::read_to_string(format!("{dir}/schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok());
        Ok(CpuSample {
            user_ticks,
            sys_ticks,
            runtime_ns,
        })
    }
}

/// The resident set size (`VmRSS`) of a process, in bytes.
pub fn rss_bytes(pid: u32) -> io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .ok_or_else(|| bad_data("no VmRSS"))?;
    let kib: u64 = line
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .map_err(|_| bad_data("bad VmRSS"))?;
    Ok(kib * 1024)
}

fn bad_data(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// The CPUs this thread may run on, lowest first.
pub fn allowed_cpus() -> Vec<usize> {
    match rustix::thread::sched_getaffinity(None) {
        Ok(set) => (0..rustix::thread::CpuSet::MAX_CPU)
            .filter(|&cpu| set.is_set(cpu))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Pins the calling thread to one CPU.
pub fn pin_current_thread(cpu: usize) -> io::Result<()> {
    let mut set = rustix::thread::CpuSet::new();
    set.set(cpu);
    rustix::thread::sched_setaffinity(None, &set).map_err(io::Error::from)
}

/// Clock ticks every CPU of the machine spent on anything but idling so far
/// (user, nice, system, irq, softirq and steal from the `cpu` line of /proc/stat).
pub fn machine_busy_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal [guest guest_nice]: guest
    // time is already inside user and nice.
    let busy = fields.iter().take(8).sum::<u64>() - fields.get(3)? - fields.get(4)?;
    Some(busy)
}
