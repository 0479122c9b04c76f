// The interactive API reference: Swagger UI over the spec embedded in the page (no network
// but the calls a reader makes with "Try it out", to the server chosen in "Servers").
document.addEventListener("DOMContentLoaded", function () {
  var holder = document.getElementById("labcas-api-explorer");
  var source = document.getElementById("labcas-openapi-spec");
  if (!holder || !source || typeof SwaggerUIBundle === "undefined") {
    return;
  }
  holder.textContent = "";
  SwaggerUIBundle({
    spec: JSON.parse(source.textContent),
    domNode: holder,
    deepLinking: true,
    validatorUrl: null,
    tryItOutEnabled: false,
    defaultModelsExpandDepth: 0,
  });
});
