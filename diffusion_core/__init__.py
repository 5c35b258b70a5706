"""diffusion_core: the maths, network and data behind the diffusion teaching app.

Pages and the command line import from here; nothing in this package imports Streamlit.
"""
from .forward import q_chain, q_posterior_mean_variance, q_sample, q_step
from .samplers import ReverseProcess, SamplerConfig, Trajectory, guided_eps, initial_noise
from .schedules import SCHEDULE_NAMES, NoiseSchedule, extract, make_schedule, respace, spaced_timesteps

__all__ = [
    "SCHEDULE_NAMES", "NoiseSchedule", "ReverseProcess", "SamplerConfig", "Trajectory", "extract", "guided_eps",
    "initial_noise", "make_schedule", "q_chain", "q_posterior_mean_variance", "q_sample", "q_step", "respace",
    "spaced_timesteps",
]
