"""How steady this machine's speed is (results/README.md, "The asv noise floor"), not an asv
benchmark: ``python benchmarks/noise_probe.py`` times one LSTM forward (32x100x128, one thread)
in 40 blocks of 20 calls, 0.5 s apart, and prints the variation within and between blocks, the
block medians, and how far process CPU time strayed from wall time."""

import statistics
import time


def main(blocks: int = 40, calls: int = 20) -> None:
    import torch

    torch.set_num_threads(1)
    core, x = torch.nn.LSTM(128, 128, batch_first=True), torch.randn(32, 100, 128)
    medians, within, cpu_vs_wall = [], [], []
    with torch.no_grad():
        for _ in range(20):  # warm up
            core(x)
        for _ in range(blocks):
            times, wall0, cpu0 = [], time.perf_counter(), time.process_time()
            for _ in range(calls):
                t0 = time.perf_counter()
                core(x)
                times.append(time.perf_counter() - t0)
            cpu_vs_wall.append((time.process_time() - cpu0) / (time.perf_counter() - wall0))
            medians.append(statistics.median(times))
            within.append(statistics.pstdev(times) / statistics.mean(times))
            time.sleep(0.5)
    between = statistics.pstdev(medians) / statistics.mean(medians)
    print(f"within-block CV {statistics.mean(within):.3f}; between-block CV of medians {between:.3f}")
    print("block medians (ms):", " ".join(f"{m * 1e3:.1f}" for m in medians))
    print(f"CPU time / wall time per block: {min(cpu_vs_wall):.3f} to {max(cpu_vs_wall):.3f}")


if __name__ == "__main__":
    main()
