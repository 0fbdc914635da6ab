
// ---- end of userscript/arena-link.user.js ----
})(RelaySocket);
})();
