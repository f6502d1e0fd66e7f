def test_x(tmp_path, make_config, run_syllo, read_events):
    cfg = make_config(tmp_path, train={"max_steps": 7, "save_steps": 3, "learning_rate": 0.0}, monitor={"eval_steps": 3, "eval_samples": 2})
    import time; t=time.time()
    p = run_syllo("run", cfg, cwd=tmp_path)
    print("wall", time.time()-t)
    print(p.returncode, p.stderr[-3000:])
    for e in read_events(tmp_path/"status/events.jsonl"):
        print(e["type"], e["step"], e.get("example", {}) and e["example"].get("loss") if e["type"]=="log" else e.get("val_loss"))
    assert 0
