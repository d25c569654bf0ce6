//! `cpu`: small CPU benchmarks that build for Wasm and Linux from one source.
//!
//! - `cpu sha256 MIB`: a hand-written SHA-256 over MIB MiB of deterministic
//!   generated data; prints the hex digest and `elapsed_ms=N`.
//! - `cpu nbody STEPS`: the classic n-body simulation (Benchmarks Game); prints
//!   the energy before and after with 9 decimals and `elapsed_ms=N`.
//!
//! The output is identical on every target, apart from the timing line.

#![allow(clippy::needless_range_loop)]

use std::hint::black_box;
use std::process::exit;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = || -> ! {
        eprintln!("usage: cpu sha256 MIB | cpu nbody STEPS");
        exit(2)
    };
    if args.len() != 3 {
        usage();
    }
    let Ok(n) = args[2].parse::<u64>() else {
        usage()
    };
    let start = Instant::now();
    match args[1].as_str() {
        "sha256" => {
            let digest = sha256_generated(black_box(n) * 1024 * 1024);
            println!("{}", hex(&digest));
        }
        "nbody" => {
            let mut bodies = nbody::initial();
            nbody::offset_momentum(&mut bodies);
            println!("{:.9}", nbody::energy(&bodies));
            for _ in 0..black_box(n) {
                nbody::advance(&mut bodies, 0.01);
            }
            println!("{:.9}", nbody::energy(&bodies));
        }
        _ => usage(),
    }
    println!("elapsed_ms={}", start.elapsed().as_millis());
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of `len` bytes produced by a xorshift64 generator, fed in 64 KiB
/// chunks (generation is part of the work measured).
fn sha256_generated(len: u64) -> [u8; 32] {
    let mut h = Sha256::new();
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut buf = vec![0u8; 64 * 1024];
    let mut left = len;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        for chunk in buf[..n].chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let bytes = state.to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        h.update(&buf[..n]);
        left -= n as u64;
    }
    h.finish()
}

const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

struct Sha256 {
    state: [u32; 8],
    block: [u8; 64],
    used: usize,
    total: u64,
}

impl Sha256 {
    fn new() -> Self {
        Sha256 {
            state: [
                0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
                0x5be0cd19,
            ],
            block: [0; 64],
            used: 0,
            total: 0,
        }
    }

    fn update(&mut self, mut data: &[u8]) {
        self.total += data.len() as u64;
        if self.used > 0 {
            let n = (64 - self.used).min(data.len());
            self.block[self.used..self.used + n].copy_from_slice(&data[..n]);
            self.used += n;
            data = &data[n..];
            if self.used < 64 {
                return;
            }
            let block = self.block;
            compress(&mut self.state, &block);
            self.used = 0;
        }
        let mut chunks = data.chunks_exact(64);
        for block in &mut chunks {
            compress(&mut self.state, block.try_into().unwrap());
        }
        let rest = chunks.remainder();
        self.block[..rest.len()].copy_from_slice(rest);
        self.used = rest.len();
    }

    fn finish(mut self) -> [u8; 32] {
        let bits = self.total.wrapping_mul(8);
        let mut pad = vec![0x80u8];
        let zeros = (64 + 56 - (self.used + 1) % 64) % 64;
        pad.resize(pad.len() + zeros, 0);
        pad.extend_from_slice(&bits.to_be_bytes());
        let total = self.total;
        self.update(&pad);
        self.total = total;
        debug_assert_eq!(self.used, 0);
        let mut out = [0u8; 32];
        for (i, w) in self.state.iter().enumerate() {
            out[i * 4..i * 4 + 4].copy_from_slice(&w.to_be_bytes());
        }
        out
    }
}

fn compress(state: &mut [u32; 8], block: &[u8; 64]) {
    let mut w = [0u32; 64];
    for i in 0..16 {
        w[i] = u32::from_be_bytes(block[i * 4..i * 4 + 4].try_into().unwrap());
    }
    for i in 16..64 {
        let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
        let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16]
            .wrapping_add(s0)
            .wrapping_add(w[i - 7])
            .wrapping_add(s1);
    }
    let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = *state;
    for i in 0..64 {
        let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
        let ch = (e & f) ^ (!e & g);
        let t1 = h
            .wrapping_add(s1)
            .wrapping_add(ch)
            .wrapping_add(K[i])
            .wrapping_add(w[i]);
        let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
        let maj = (a & b) ^ (a & c) ^ (b & c);
        let t2 = s0.wrapping_add(maj);
        h = g;
        g = f;
        f = e;
        e = d.wrapping_add(t1);
        d = c;
        c = b;
        b = a;
        a = t1.wrapping_add(t2);
    }
    for (s, v) in state.iter_mut().zip([a, b, c, d, e, f, g, h]) {
        *s = s.wrapping_add(v);
    }
}

mod nbody {
    use std::f64::consts::PI;

    const SOLAR_MASS: f64 = 4.0 * PI * PI;
    const DAYS_PER_YEAR: f64 = 365.24;

    #[derive(Clone, Copy)]
    pub struct Body {
        pos: [f64; 3],
        vel: [f64; 3],
        mass: f64,
    }

    pub fn initial() -> [Body; 5] {
        let body = |pos: [f64; 3], vel: [f64; 3], mass: f64| Body {
            pos,
            vel: vel.map(|v| v * DAYS_PER_YEAR),
            mass: mass * SOLAR_MASS,
        };
        [
            // Sun
            body([0.0; 3], [0.0; 3], 1.0),
            // Jupiter
            body(
                [
                    4.841_431_442_464_72e0,
                    -1.160_320_044_027_428_4e0,
                    -1.036_220_444_711_231_1e-1,
                ],
                [
                    1.660_076_642_744_037e-3,
                    7.699_011_184_197_404e-3,
                    -6.904_600_169_720_63e-5,
                ],
                9.547_919_384_243_266e-4,
            ),
            // Saturn
            body(
                [
                    8.343_366_718_244_58e0,
                    4.124_798_564_124_305e0,
                    -4.035_234_171_143_214e-1,
                ],
                [
                    -2.767_425_107_268_624e-3,
                    4.998_528_012_349_172e-3,
                    2.304_172_975_737_639_3e-5,
                ],
                2.858_859_806_661_308e-4,
            ),
            // Uranus
            body(
                [
                    1.289_436_956_213_913_1e1,
                    -1.511_115_140_169_863_1e1,
                    -2.233_075_788_926_557_3e-1,
                ],
                [
                    2.964_601_375_647_616e-3,
                    2.378_471_739_594_809_5e-3,
                    -2.965_895_685_402_375_6e-5,
                ],
                4.366_244_043_351_563e-5,
            ),
            // Neptune
            body(
                [
                    1.537_969_711_485_091_1e1,
                    -2.591_931_460_998_796_4e1,
                    1.792_587_729_503_711_8e-1,
                ],
                [
                    2.680_677_724_903_893_2e-3,
                    1.628_241_700_382_423e-3,
                    -9.515_922_545_197_159e-5,
                ],
                5.151_389_020_466_114_5e-5,
            ),
        ]
    }

    pub fn offset_momentum(bodies: &mut [Body; 5]) {
        let mut p = [0.0; 3];
        for b in bodies.iter() {
            for k in 0..3 {
                p[k] += b.vel[k] * b.mass;
            }
        }
        for k in 0..3 {
            bodies[0].vel[k] = -p[k] / SOLAR_MASS;
        }
    }

    pub fn energy(bodies: &[Body; 5]) -> f64 {
        let mut e = 0.0;
        for (i, b) in bodies.iter().enumerate() {
            e += 0.5 * b.mass * b.vel.iter().map(|v| v * v).sum::<f64>();
            for b2 in &bodies[i + 1..] {
                let d2: f64 = (0..3).map(|k| (b.pos[k] - b2.pos[k]).powi(2)).sum();
                e -= b.mass * b2.mass / d2.sqrt();
            }
        }
        e
    }

    pub fn advance(bodies: &mut [Body; 5], dt: f64) {
        for i in 0..5 {
            let (left, right) = bodies.split_at_mut(i + 1);
            let bi = &mut left[i];
            for bj in right.iter_mut() {
                let d = [
                    bi.pos[0] - bj.pos[0],
                    bi.pos[1] - bj.pos[1],
                    bi.pos[2] - bj.pos[2],
                ];
                let d2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
                let mag = dt / (d2 * d2.sqrt());
                for k in 0..3 {
                    bi.vel[k] -= d[k] * bj.mass * mag;
                    bj.vel[k] += d[k] * bi.mass * mag;
                }
            }
        }
        for b in bodies.iter_mut() {
            for k in 0..3 {
                b.pos[k] += dt * b.vel[k];
            }
        }
    }
}
