# PyTorch CPU peer for instance_norm_lrelu_{fwd,bwd}/cpu: F.instance_norm(eps=1e-5, affine) + leaky_relu(0.01),
# channels_last_3d, f32, 2 threads; same (reduced) shapes as nnuc's CPU benchmarks.
import time, torch, torch.nn.functional as F
torch.set_num_threads(2)
shapes = {"s0_128x32_reduced_64x64x64": (2, 64, 64, 64, 32), "s1_64x64_reduced_32x32x32": (2, 32, 32, 32, 64),
          "s2_32x128": (2, 32, 32, 32, 128), "s3_16x256": (2, 16, 16, 16, 256), "s4_8x320": (2, 8, 8, 8, 320),
          "s5_4x320": (2, 4, 4, 4, 320)}
def timeit(fn, min_time=0.5):
    fn(); n = 0; t0 = time.perf_counter()
    while True:
        fn(); n += 1
        t = time.perf_counter() - t0
        if t > min_time and n >= 3: return t / n
for name, (n, d, h, w, c) in shapes.items():
    x = (torch.rand(n, c, d, h, w) * 5 - 2).contiguous(memory_format=torch.channels_last_3d).requires_grad_()
    g = (torch.rand(c) + 0.5).requires_grad_(); b = (torch.rand(c) - 0.5).requires_grad_()
    dy = torch.rand_like(x).contiguous(memory_format=torch.channels_last_3d)
    fwd = lambda: F.leaky_relu(F.instance_norm(x, weight=g, bias=b, eps=1e-5), 0.01)
    import statistics
    with torch.no_grad(): tf = statistics.median(timeit(fwd) for _ in range(3))
    y = fwd()
    tb = statistics.median(timeit(lambda: torch.autograd.grad(y, (x, g, b), dy, retain_graph=True)) for _ in range(3))
    bytes_ = x.numel() * 4
    print(f"{name:30s} torch fwd {tf*1e3:8.2f} ms ({3*bytes_/tf/1e9:5.2f} GB/s)   bwd {tb*1e3:8.2f} ms ({5*bytes_/tb/1e9:5.2f} GB/s)", flush=True)
