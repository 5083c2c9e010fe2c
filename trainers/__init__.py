"""Policy updates: in context (icl), LoRA SFT and DPO with TRL/PEFT, rows in TRL's formats.

    trainers.icl.pack(rows, count_tokens, budget) / icl_prompt(packed_text, instruction)
    trainers.sft.run_sft(cfg, rows, out_dir, base=spec) -> adapter_dir
    trainers.dpo.run_dpo(cfg, rows, out_dir, base=spec) -> adapter_dir
    trainers.formats.to_sft_rows(curated_rows) / to_dpo_rows(rows) / read_rows(path, method)
    trainers.session.release(engine) / reload(spec, adapter_dir) / with_adapter(spec, adapter_dir)

Heavy libraries (torch, transformers, trl, peft, datasets) load inside the functions that use them.
"""
