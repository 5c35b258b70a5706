"""How the data distribution melts into the prior: a 1-D mixture whose q(x_t) is known exactly,
a 2-D point cloud scrubbed in the browser, the stationary prior, and a tiny denoiser trained here."""
from __future__ import annotations

import numpy as np
import streamlit as st

from diffusion_core import slides_toy, toy
from diffusion_core.forward import alphas_cumprod_from_zero, t_grid
from ui import figures, server
from ui.components import chart
from ui.slides import download_view

X_GRID = np.linspace(-4.0, 4.0, 161)  # where densities are drawn
EDGES = np.linspace(-4.0, 4.0, 61)  # histogram bins
HEAT_COLUMNS = 101  # t columns of the heatmap, at most
HEAT_ZMAX = 1.0  # narrow components peak far higher at small t; beyond this the colour saturates
CLOUD_FRAMES = 41  # frames of a point-cloud scrubber, at most: keeps its JSON near 300 kB
CLOUD_POINTS = 500  # points that move in a scrubber
DATA_POINTS = 1500  # grey reference points of the data
HIST_SAMPLES = 20_000  # draws behind each histogram
T_CHOICES = (50, 100, 200)
TRAIN_STEP_CHOICES = (250, 500, 1000, 2000)
BLUE, GREEN, VERMILLION = figures.BLUE, figures.GREEN, figures.VERMILLION  # colour-blind safe, 3:1 on white
DEFAULTS = {"dist_schedule": "cosine", "dist_T": 100, "dist_mixture": "two bumps", "dist_t": 10,
            "dist_data": "moons", "dist_kernel_steps": 100, "dist_train_steps": 1000, "dist_seed": 0}


# --- 1-D: the mixture and its marginals ------------------------------------------------------------
@st.cache_data(max_entries=32, show_spinner=False)
def mixture_figures(mixture_name: str, schedule_name: str, num_steps: int, t: int):
    """(heatmap over (t, x), chart at t): closed-form q(x_t) against N(0, 1) and a q_sample histogram."""
    schedule, mixture = toy.toy_schedule(schedule_name, num_steps), toy.MIXTURES[mixture_name]
    alpha_bar = alphas_cumprod_from_zero(schedule)  # indexed by the paper's t
    grid = np.asarray(t_grid(num_steps, HEAT_COLUMNS))
    heatmap = figures.density_heatmap(grid, X_GRID, toy.mixture_density(mixture, alpha_bar[grid], X_GRID), marker_t=t,
                                      zmax=HEAT_ZMAX)
    exact = toy.mixture_density(mixture, alpha_bar[[t]], X_GRID)[0]
    x0 = mixture.sample(HIST_SAMPLES, np.random.default_rng(0))[:, None]  # (N, 1)
    xt = toy.forward_cloud(x0, schedule, np.array([t]), seed=1)[0]  # (N, 1)
    hist = figures.histogram_densities(xt.T, EDGES)[0]
    normal = figures.normal_pdf(X_GRID)
    density = figures.density_chart(
        X_GRID, [figures.Curve("q(x<sub>t</sub>), closed form", exact, BLUE),
                 figures.Curve("N(0, 1)", normal, VERMILLION, "dash")],
        EDGES, [figures.Curve("histogram of q_sample draws", hist, BLUE)],
        y_max=1.1 * max(exact.max(), hist.max(), normal.max()), x_title="x<sub>t</sub>")
    return heatmap, density


# --- stationarity --------------------------------------------------------------------------------------
@st.cache_data(max_entries=8, show_spinner=False)
def kernel_histograms(mixture_name: str, schedule_name: str, num_steps: int):
    """Histograms (T + 1, K) of N(0, 1) draws and of mixture draws after k = 0..T kernel steps,
    and the mean and standard deviation (T + 1,) of the N(0, 1) chain."""
    schedule, rng = toy.toy_schedule(schedule_name, num_steps), np.random.default_rng(2)
    prior = toy.kernel_chain(rng.standard_normal(HIST_SAMPLES), schedule, seed=3)  # (T + 1, N)
    data = toy.kernel_chain(toy.MIXTURES[mixture_name].sample(HIST_SAMPLES, rng), schedule, seed=4)
    return (figures.histogram_densities(prior, EDGES), figures.histogram_densities(data, EDGES),
            prior.mean(axis=1), prior.std(axis=1))


@st.cache_data(max_entries=32, show_spinner=False)
def stationarity_figure(mixture_name: str, schedule_name: str, num_steps: int, k: int):
    prior, data, mean, std = kernel_histograms(mixture_name, schedule_name, num_steps)
    alpha_bar = alphas_cumprod_from_zero(toy.toy_schedule(schedule_name, num_steps))
    exact = toy.mixture_density(toy.MIXTURES[mixture_name], alpha_bar[[k]], X_GRID)[0]
    density = figures.density_chart(
        X_GRID, [figures.Curve("N(0, 1)", figures.normal_pdf(X_GRID), VERMILLION, "dash"),
                 figures.Curve("q(x<sub>k</sub>) of the mixture, closed form", exact, GREEN, "dot")],
        EDGES, [figures.Curve("started from N(0, 1)", prior[k], BLUE),
                figures.Curve("started from the mixture", data[k], GREEN)],
        y_max=1.1 * max(0.45, prior[k].max(), data[k].max()), x_title="x after k steps")
    return density, float(mean[k]), float(std[k])


# --- 2-D: the point cloud, forward and back ----------------------------------------------------------
def _spread(count: int, most: int) -> np.ndarray:
    """At most ``most`` indices spread evenly over 0..count - 1, both ends included."""
    return np.unique(np.round(np.linspace(0, count - 1, min(count, most))).astype(int))


def cloud_slide(data_name: str, schedule_name: str, num_steps: int):
    """The scrubber's cloud (the same points and ε) at five t, for slides."""
    points, colour = toy.toy_points(data_name, CLOUD_POINTS, seed=1)
    t = t_grid(num_steps, 5)
    frames = toy.forward_cloud(points, toy.toy_schedule(schedule_name, num_steps), np.asarray(t), seed=2)
    return slides_toy.cloud_strip(frames, colour, t, f"{data_name}, schedule {schedule_name}, T = {num_steps}")


@st.cache_data(max_entries=8, show_spinner=False)
def forward_cloud_figure(data_name: str, schedule_name: str, num_steps: int):
    schedule = toy.toy_schedule(schedule_name, num_steps)
    alpha_bar = alphas_cumprod_from_zero(schedule)
    points, colour = toy.toy_points(data_name, CLOUD_POINTS, seed=1)
    grid = np.asarray(t_grid(num_steps, CLOUD_FRAMES))
    frames = toy.forward_cloud(points, schedule, grid, seed=2)  # (F, N, 2)
    captions = [f"t = {t} · ᾱ<sub>t</sub> = {alpha_bar[t]:.3f} · "
                f"x<sub>t</sub> = {np.sqrt(alpha_bar[t]):.2f} x<sub>0</sub> + {np.sqrt(1 - alpha_bar[t]):.2f} ε"
                for t in grid]
    return figures.point_cloud_scrubber(frames, colour, [str(t) for t in grid], captions)


def train(config: toy.ToyConfig) -> toy.TrainedToy:
    """The toy denoiser for ``config``: trained here with a progress bar, once per server."""
    return server.trained_once(config, toy.train_toy, "the toy denoiser")


@st.cache_data(max_entries=8, show_spinner=False)
def reverse_figure(config: toy.ToyConfig, seed: int, _trained: toy.TrainedToy):
    """(scrubber, distance of x_T to the data, distance of the samples to the data)."""
    trajectory = toy.reverse_cloud(_trained, CLOUD_POINTS, seed)
    xs = trajectory.xs.numpy()  # (S + 1, N, 2): xs[k] enters step k, xs[S] is the sample
    t_of = [*trajectory.t.tolist(), 0]  # the paper's t of each state; the samples are t = 0
    data, data_colour = toy.toy_points(config.data, DATA_POINTS, seed=1)
    distance, index = toy.nearest(xs[-1], data)
    keep = _spread(len(xs), CLOUD_FRAMES)
    captions = [f"t = {t_of[k]} · after {k} of {len(xs) - 1} reverse steps" if k < len(xs) - 1 else
                f"t = 0 · the samples, after all {k} steps" for k in keep]
    scrubber = figures.point_cloud_scrubber(xs[keep], data_colour[index], [str(t_of[k]) for k in keep], captions,
                                            background=data, active=len(keep) - 1)
    return scrubber, toy.mean_nearest_distance(xs[0], data), float(distance.mean())


# --- the page --------------------------------------------------------------------------------------
def _init_state() -> None:
    for key, value in DEFAULTS.items():
        if key not in st.session_state:
            st.session_state[key] = value


def _clamp_to(num_steps: int) -> None:
    for key in ("dist_t", "dist_kernel_steps"):  # T may have shrunk since these sliders were set
        st.session_state[key] = min(int(st.session_state[key]), num_steps)


def section_mixture(schedule_name: str, num_steps: int) -> None:
    st.header("1 · A mixture of Gaussians melts into N(0, 1)")
    st.markdown("Push a mixture p(x₀) through q(xₜ | x₀) = N(√ᾱₜ x₀, 1 − ᾱₜ): every component stays a Gaussian, "
                "shrinks towards 0 and widens, so q(xₜ) is a mixture with the same weights, known exactly.")
    st.latex(r"p(x_0) = \sum_k \pi_k\,\mathcal N(x_0;\,\mu_k,\,\sigma_k^2)")
    st.latex(r"q(x_t) = \int q(x_t \mid x_0)\,p(x_0)\,dx_0 = \sum_k \pi_k\,"
             r"\mathcal N\!\big(x_t;\,\sqrt{\bar\alpha_t}\,\mu_k,\;\bar\alpha_t\,\sigma_k^2 + 1 - \bar\alpha_t\big)")
    left, right = st.columns([1, 3])
    left.selectbox("Data distribution p(x₀)", list(toy.MIXTURES), key="dist_mixture")
    right.slider("t", 0, num_steps, key="dist_t")
    t, name = int(st.session_state["dist_t"]), st.session_state["dist_mixture"]
    heatmap, density = mixture_figures(name, schedule_name, num_steps, t)
    left, right = st.columns(2)
    with left:
        chart.show(heatmap, "dist_heatmap", alt=f"Heatmap of the density q(x_t) of the {name} mixture over t "
                   f"(across) and x (up): it widens into N(0, 1) as t grows; a dashed line marks t = {t}")
        st.caption(f"q(xₜ) for every t (across) and x (up), colours saturating at {HEAT_ZMAX:g}; "
                   "the dashed line is the t of the slider.")
    with right:
        chart.show(density, "dist_mixture_chart")
        alpha_bar = alphas_cumprod_from_zero(toy.toy_schedule(schedule_name, num_steps))[t]
        st.caption(f"t = {t}, ᾱₜ = {alpha_bar:.4f}. The bars are {HIST_SAMPLES:,} draws of x₀ put through "
                   "q_sample: they follow the closed-form curve.")


def section_cloud(schedule_name: str, num_steps: int) -> None:
    st.header("2 · A 2-D point cloud melts into N(0, I)")
    st.latex(r"x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon,"
             r"\qquad \varepsilon \sim \mathcal N(0, I)")
    st.selectbox("Toy data", toy.TOY_NAMES, key="dist_data",
                 format_func={"moons": "two moons", "spiral": "spiral (swiss roll)"}.get)
    left, right = st.columns([3, 2])
    with left:
        chart.show(forward_cloud_figure(st.session_state["dist_data"], schedule_name, num_steps), "dist_forward_cloud",
                   alt=f"{CLOUD_POINTS} points of the {st.session_state['dist_data']} data, from t = 0 to T: they "
                       "spread into a round Gaussian cloud inside the dashed circles of radius 1 and 2")
    right.markdown(f"**Drag the slider under the plot**: it runs in your browser, or press ▶ play. {CLOUD_POINTS} "
                   "points, each with one ε for every t; the colour marks where on the data a point started.")
    right.caption("The dashed circles have radius 1 and 2: N(0, I) puts 39 % of its points inside the first and "
                  "86 % inside the second.")
    name = st.session_state["dist_data"]
    download_view("distributions_cloud", lambda: cloud_slide(name, schedule_name, num_steps),
                  f"{name}, {schedule_name}, T = {num_steps}")


def section_stationarity(schedule_name: str, num_steps: int) -> None:
    st.header("3 · The prior does not move")
    st.markdown("N(0, 1) is the *stationary* distribution of the chain: one step of the transition kernel "
                "maps it to itself, so any number of steps leaves it unchanged, while the mixture flows into it.")
    st.latex(r"p_{\text{prior}}(x) = \int q(x \mid x')\,p_{\text{prior}}(x')\,dx',\qquad "
             r"q(x_t \mid x_{t-1}) = \mathcal N\big(x_t;\,\sqrt{1-\beta_t}\,x_{t-1},\,\beta_t\big)")
    st.latex(r"x' \sim \mathcal N(0, 1)\;\Rightarrow\;\sqrt{1-\beta_t}\,x' + \sqrt{\beta_t}\,\varepsilon "
             r"\sim \mathcal N\big(0,\,(1-\beta_t) + \beta_t\big) = \mathcal N(0, 1)")
    st.slider("Kernel steps applied, k (steps 1 … k of the schedule)", 0, num_steps, key="dist_kernel_steps")
    k = int(st.session_state["dist_kernel_steps"])
    density, mean, std = stationarity_figure(st.session_state["dist_mixture"], schedule_name, num_steps, k)
    chart.show(density, "dist_stationarity")
    st.caption(f"After k = {k} steps the {HIST_SAMPLES:,} draws that started from N(0, 1) have mean {mean:+.3f} and "
               f"standard deviation {std:.3f}. The draws from the mixture ({st.session_state['dist_mixture']}) "
               "follow its closed-form q(x_k) and reach N(0, 1) only at the end.")


def section_denoiser(schedule_name: str, num_steps: int) -> None:
    st.header("4 · A tiny denoiser carries the Gaussian back")
    config = toy.ToyConfig(data=st.session_state["dist_data"], schedule=schedule_name, num_steps=num_steps,
                           train_steps=int(st.session_state["dist_train_steps"]))
    st.markdown(f"A {config.hidden}-wide MLP ε_θ(xₜ, t) learns the noise, on the CPU, right here "
                f"({config.train_steps} Adam steps of {config.batch_size} points); then DDPM runs all {num_steps} "
                "reverse steps from Gaussian samples.")
    st.latex(r"\mathcal L = \mathbb E_{x_0, t, \varepsilon}\,\big\|\varepsilon - \varepsilon_\theta"
             r"\big(\sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon,\ t\big)\big\|^2")
    st.latex(r"\hat x_0 = \operatorname{clip}\Big(\frac{x_t - \sqrt{1-\bar\alpha_t}\,\varepsilon_\theta(x_t, t)}"
             r"{\sqrt{\bar\alpha_t}},\,-1,\,1\Big),\qquad "
             r"\sigma_t^2 = \frac{1-\bar\alpha_{t-1}}{1-\bar\alpha_t}\,\beta_t")
    st.latex(r"x_{t-1} = \frac{\sqrt{\bar\alpha_{t-1}}\,\beta_t}{1-\bar\alpha_t}\,\hat x_0 + "
             r"\frac{\sqrt{\alpha_t}\,(1-\bar\alpha_{t-1})}{1-\bar\alpha_t}\,x_t + \sigma_t z,\qquad "
             r"z \sim \mathcal N(0, I)\ (z = 0 \text{ at } t = 1)")
    left, right = st.columns(2)
    left.select_slider("Training steps", TRAIN_STEP_CHOICES, key="dist_train_steps")
    right.number_input("Sampling seed", min_value=0, max_value=2**31 - 1, step=1, key="dist_seed")
    if not server.ready_to_train([config], f"Train on the {config.data} ({config.train_steps} steps)", "dist_train",
                                 "Press the button to train the denoiser for these settings; it takes a few seconds."):
        return
    trained = train(config)
    scrubber, prior_distance, sample_distance = reverse_figure(config, int(st.session_state["dist_seed"]), trained)
    left, right = st.columns([3, 2])
    with left:
        chart.show(scrubber, "dist_reverse_cloud", alt=f"{CLOUD_POINTS} samples of the denoiser, from Gaussian "
                   f"noise at t = {num_steps} to t = 0, over the {config.data} data in grey")
    with right:
        st.markdown("Colour: the part of the data (grey) where a sample lands. **Drag the slider back** to see "
                    "where each sample came from, and when the cloud takes the shape of the data.")
        st.caption(f"Trained in {trained.seconds:.1f} s, final loss {trained.smoothed_losses()[-1]:.3f}. Mean distance "
                   f"to the nearest data point: {prior_distance:.3f} for the Gaussian x_T, {sample_distance:.3f} "
                   "for the samples.")
        steps = np.arange(1, config.train_steps + 1)
        chart.show(figures.line_chart({"loss (running mean of 50 steps)": (steps, trained.smoothed_losses())},
                                      "training step", "loss", height=240), "dist_loss")


def run() -> None:
    st.title("How the data distribution melts into the prior")
    _init_state()
    left, right = st.columns(2)
    left.selectbox("Schedule on this page", toy.TOY_SCHEDULES, key="dist_schedule")
    right.select_slider("T (number of steps)", T_CHOICES, key="dist_T")
    schedule_name, num_steps = st.session_state["dist_schedule"], int(st.session_state["dist_T"])
    _clamp_to(num_steps)
    shape = ("Nichol & Dhariwal's cosine" if schedule_name == "cosine" else
             f"DDPM's linear β from 1e-4 to 0.02, scaled by 1000 / T to {0.1 / num_steps:.3g} … {20 / num_steps:.3g}")
    st.caption(f"This page uses its own short schedule, **{schedule_name}, T = {num_steps}** ({shape}), "
               "not the sidebar's, so that the toy denoiser trains and samples in seconds.")
    section_mixture(schedule_name, num_steps)
    section_cloud(schedule_name, num_steps)
    section_stationarity(schedule_name, num_steps)
    section_denoiser(schedule_name, num_steps)


run()
