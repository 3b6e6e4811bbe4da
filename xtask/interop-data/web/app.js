// Fetches data.json and shows its answer: the page loaded its assets and a fetch() worked.
fetch("data.json")
  .then((r) => r.json())
  .then((d) => {
    const color = getComputedStyle(document.body).getPropertyValue("--marker").trim();
    document.getElementById("status").textContent = `loaded ${d.answer} ${color}`;
  });
