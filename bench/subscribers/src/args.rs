//! The command line of `haul-subscribers`: a few `--name value` pairs,
//! parsed by hand (a benchmark tool should not pull in a parser).

pub const USAGE: &str = "usage: haul-subscribers --addr HOST:PORT --path PATH --token TOKEN --n N \
--server-pid PID --trigger CMD [--rest SECS (10)] [--repeat K (3)] [--timeout SECS (60)] [--parallel P (256)]";

pub struct Args {
    pub addr: String,
    pub path: String,
    pub token: String,
    pub n: usize,
    pub server_pid: u32,
    pub trigger: String,
    pub rest: f64,
    pub repeat: usize,
    pub timeout: f64,
    pub parallel: usize,
}

pub fn parse(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let (mut addr, mut path, mut token, mut n, mut pid, mut trigger) = (None, None, None, None, None, None);
    let (mut rest, mut repeat, mut timeout, mut parallel) = (10.0, 3, 60.0, 256);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let num = |what: &str| value.parse::<f64>().map_err(|_| format!("{what} must be a number, not {value:?}"));
        match flag.as_str() {
            "--addr" => addr = Some(value),
            "--path" => path = Some(value),
            "--token" => token = Some(value),
            "--trigger" => trigger = Some(value),
            "--n" => n = Some(num("--n")? as usize),
            "--server-pid" => pid = Some(num("--server-pid")? as u32),
            "--rest" => rest = num("--rest")?,
            "--repeat" => repeat = num("--repeat")? as usize,
            "--timeout" => timeout = num("--timeout")?,
            "--parallel" => parallel = (num("--parallel")? as usize).max(1),
            other => return Err(format!("unknown option {other}")),
        }
    }
    fn need<T>(v: Option<T>, name: &str) -> Result<T, String> {
        v.ok_or_else(|| format!("{name} is required"))
    }
    Ok(Args {
        addr: need(addr, "--addr")?,
        path: need(path, "--path")?,
        token: need(token, "--token")?,
        n: need(n, "--n")?,
        server_pid: need(pid, "--server-pid")?,
        trigger: need(trigger, "--trigger")?,
        rest,
        repeat,
        timeout,
        parallel,
    })
}
